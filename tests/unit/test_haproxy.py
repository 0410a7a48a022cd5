"""The haproxy part: option validation (exact messages), the rendered file, what it publishes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from buildout_harness import error_of, install, site_buildout, update
from part_fixtures import assert_refused_before_writing
from part_fixtures import fake_haproxy, refusing_haproxy, two_cores  # noqa: F401 - pytest fixtures
from support import check_golden

from sitestack.recipes import system
from sitestack.recipes.haproxy import Recipe

pytestmark = pytest.mark.usefixtures("two_cores")

SITE = "/srv/site"
SERVERS = "client1=127.0.0.1:8081 client2=127.0.0.1:8082"


def make(options: dict[str, str], directory: str = SITE, name: str = "haproxy") -> Recipe:
    buildout = site_buildout(directory, **{name: options})
    return Recipe(buildout, name, buildout[name])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"servers": ""}, "[haproxy] servers: is required"),
        ({"servers": "  \n "}, "[haproxy] servers: is required"),
        ({"servers": "client1"}, "[haproxy] servers: expected name=host:port entries (got 'client1')"),
        ({"servers": "=127.0.0.1:8081"}, "[haproxy] servers: expected name=host:port entries (got '=127.0.0.1:8081')"),
        (
            {"servers": "client1=127.0.0.1"},
            "[haproxy] servers: expected host:port such as 127.0.0.1:8080 (got 'client1=127.0.0.1')",
        ),
        (
            {"servers": "client1=example.com:80"},
            (
                "[haproxy] servers: expected host:port such as 127.0.0.1:8080; "
                "expected an IP address such as 127.0.0.1 (got 'client1=example.com:80')"
            ),
        ),
        (
            {"servers": "client1=127.0.0.1:70000"},
            (
                "[haproxy] servers: expected host:port such as 127.0.0.1:8080; "
                "expected a TCP port from 1 to 65535 (got 'client1=127.0.0.1:70000')"
            ),
        ),
        (
            {"servers": "client#1=127.0.0.1:8081"},
            "[haproxy] servers: expected a name of letters, digits, '_', '.' and '-' (got 'client#1=127.0.0.1:8081')",
        ),
        (
            {"servers": "client1=127.0.0.1:8081 client1=127.0.0.1:8082"},
            "[haproxy] servers: duplicate server name 'client1' (got 'client1=127.0.0.1:8082')",
        ),
        (
            {"servers": "client1=127.0.0.1:8081\nclient2=localhost:8081"},
            "[haproxy] servers: duplicate server address 127.0.0.1:8081 (got 'client2=localhost:8081')",
        ),
        ({"host": "example.com"}, "[haproxy] host: expected an IP address such as 127.0.0.1 (got 'example.com')"),
        ({"threads": "0"}, "[haproxy] threads: expected auto or a number from 1 to 64 (got '0')"),
        ({"threads": "all"}, "[haproxy] threads: expected auto or a number from 1 to 64 (got 'all')"),
        ({"request-log": "none"}, "[haproxy] request-log: expected errors, ring, all (got 'none')"),
        ({"slow-request": "2"}, "[haproxy] slow-request: expected a duration such as 500ms, 1s or 2m (got '2')"),
        ({"port": "0"}, "[haproxy] port: expected a TCP port from 1 to 65535 (got '0')"),
        ({"check-interval": "1"}, "[haproxy] check-interval: expected a duration such as 500ms, 1s or 2m (got '1')"),
        ({"check-interval": "0s"}, "[haproxy] check-interval: expected a duration such as 500ms, 1s or 2m (got '0s')"),
        (
            {"timeout-connect": "2 secs"},
            "[haproxy] timeout-connect: expected a duration such as 500ms, 1s or 2m (got '2 secs')",
        ),
        (
            {"timeout-client": "1.5s"},
            "[haproxy] timeout-client: expected a duration such as 500ms, 1s or 2m (got '1.5s')",
        ),
        (
            {"timeout-server": "-1s"},
            "[haproxy] timeout-server: expected a duration such as 500ms, 1s or 2m (got '-1s')",
        ),
        (
            {"timeout-queue": "soon"},
            "[haproxy] timeout-queue: expected a duration such as 500ms, 1s or 2m (got 'soon')",
        ),
        ({"rise": "0"}, "[haproxy] rise: expected a whole number of at least 1 (got '0')"),
        ({"fall": "two"}, "[haproxy] fall: expected a whole number (got 'two')"),
        ({"retries": "-1"}, "[haproxy] retries: expected a whole number of at least 0 (got '-1')"),
        ({"maxconn": "0"}, "[haproxy] maxconn: expected a whole number of at least 1 (got '0')"),
        ({"global-maxconn": "lots"}, "[haproxy] global-maxconn: expected a whole number (got 'lots')"),
        ({"health-path": "health"}, "[haproxy] health-path: expected a URL path such as /health (got 'health')"),
        ({"monitor-uri": "/a b"}, "[haproxy] monitor-uri: expected a URL path such as /health (got '/a b')"),
        ({"monitor-uri": "/x#y"}, "[haproxy] monitor-uri: expected a URL path such as /health (got '/x#y')"),
        ({"priority": "1000"}, "[haproxy] priority: expected a priority from 0 to 999 (got '1000')"),
        (
            {"group": "front end"},
            "[haproxy] group: expected a name of letters, digits, '_', '.' and '-' (got 'front end')",
        ),
        (
            {"user": "no-such-user-here"},
            "[haproxy] user: expected the name of a user on this machine (got 'no-such-user-here')",
        ),
        ({"maxconns": "8"}, "[haproxy] maxconns: unknown option; did you mean 'maxconn'? (got '8')"),
        (
            {"binary": "haproxy-not-installed"},
            (
                "[haproxy] binary: haproxy-not-installed not found; install it with: apt-get install -y haproxy "
                "(got 'haproxy-not-installed')"
            ),
        ),
    ],
)
def test_bad_option_is_reported_exactly(options: dict[str, str], message: str) -> None:
    assert error_of(lambda: make({"servers": SERVERS, **options})) == message


def test_every_problem_is_reported_at_once() -> None:
    options = {"servers": "client1 client2=127.0.0.1:1 client2=127.0.0.1:2", "port": "x", "rise": "0"}
    message = error_of(lambda: make(options))
    assert message.splitlines() == [
        "[haproxy] servers: expected name=host:port entries (got 'client1')",
        "[haproxy] servers: duplicate server name 'client2' (got 'client2=127.0.0.1:2')",
        "[haproxy] port: expected a TCP port from 1 to 65535 (got 'x')",
        "[haproxy] rise: expected a whole number of at least 1 (got '0')",
    ]


def test_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(system, "EXTRA_PATH", ())
    assert error_of(lambda: make({"servers": SERVERS})) == (
        "[haproxy] binary: haproxy not found; install it with: apt-get install -y haproxy (got 'haproxy')"
    )


def test_too_long_stats_socket_path_is_refused() -> None:
    directory = "/srv/" + "x" * 100
    assert error_of(lambda: make({"servers": SERVERS}, directory=directory)) == (
        "[haproxy] stats-socket: a unix socket path may have at most 107 bytes; use a shorter buildout "
        f"directory (got '{directory}/var/haproxy/admin.sock')"
    )


def test_default_config_matches_golden_file(fake_haproxy: str) -> None:
    check_golden("haproxy.cfg", make({"servers": SERVERS, "binary": fake_haproxy}).text)


def test_every_option_reaches_the_config(fake_haproxy: str) -> None:
    servers = "\n".join(f"client{i}=127.0.0.1:{8080 + i}" for i in range(1, 5)) + "\nv6=[::1]:9000"
    recipe = make(
        {
            "servers": servers,
            "binary": fake_haproxy,
            "health-path": "/ok?full=1",
            "host": "0.0.0.0",
            "port": "9090",
            "maxconn": "2",
            "global-maxconn": "1000",
            "check-interval": "500ms",
            "rise": "2",
            "fall": "3",
            "retries": "0",
            "timeout-connect": "1500ms",
            "timeout-client": "30s",
            "timeout-server": "2m",
            "timeout-queue": "1h",
            "timeout-check": "700ms",
            "slowstart": "20s",
            "monitor-uri": "/lb-alive",
            "threads": "3",
            "request-log": "ring",
            "slow-request": "250ms",
        }
    )
    check_golden("haproxy-options.cfg", recipe.text)


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (3, 1), (8, 4), (256, 64)])
def test_auto_threads_are_half_the_build_hosts_cores(
    monkeypatch: pytest.MonkeyPatch, fake_haproxy: str, cores: int, threads: int
) -> None:
    monkeypatch.setattr(system, "host_cores", lambda: cores)
    for options in ({}, {"threads": "auto"}, {"threads": " AUTO "}):
        recipe = make({"servers": SERVERS, "binary": fake_haproxy, **options})
        assert recipe.haproxy.threads == threads
        assert f"\n    nbthread {threads}\n" in recipe.text


def test_published_options(fake_haproxy: str) -> None:
    recipe = make({"servers": SERVERS, "binary": fake_haproxy, "priority": "31", "group": "edge"})
    published = {
        key: value for key, value in recipe.options.items() if key not in ("servers", "binary", "priority", "group")
    }
    assert published == {
        "address": "127.0.0.1:8090",
        "host": "127.0.0.1",
        "port": "8090",
        "monitor-uri": "/haproxy-health",
        "stats-socket": "/srv/site/var/haproxy/admin.sock",
        "config": "/srv/site/parts/haproxy/haproxy.cfg",
        "backend": "clients",
        "haproxy-consumer": "haproxy",
        "haproxy-config": "/srv/site/parts/haproxy/haproxy.cfg",
        "programs": "haproxy",
        "haproxy-command": f"{fake_haproxy} -W -db -f /srv/site/parts/haproxy/haproxy.cfg",
        "haproxy-directory": "/srv/site",
        "haproxy-priority": "31",
        "haproxy-group": "edge",
        "haproxy-health-url": "http://127.0.0.1:8090/haproxy-health",
        "haproxy-watchdog": "false",
        "haproxy-memory-quota": "",
        "haproxy-address": "127.0.0.1:8090",
        "haproxy-user": "",
        "haproxy-stopsignal": "USR1",
        "haproxy-stopwaitsecs": "10",
        "haproxy-startsecs": "1",
        "haproxy-environment": "",
    }


def test_binary_is_found_in_sbin_by_name(monkeypatch: pytest.MonkeyPatch, fake_haproxy: str) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(system, "EXTRA_PATH", (str(Path(fake_haproxy).parent),))
    recipe = make({"servers": SERVERS})
    assert recipe.options["haproxy-command"].split()[0] == fake_haproxy


def test_install_writes_config_and_private_socket_directory(tmp_path: Path, fake_haproxy: str) -> None:
    site = tmp_path / "site"
    (site / "var" / "haproxy").mkdir(parents=True)
    (site / "var" / "haproxy").chmod(0o755)
    recipe = make({"servers": SERVERS, "binary": fake_haproxy}, directory=str(site))
    assert not (site / "parts").exists(), "__init__ must not write"
    assert install(recipe) == [str(site / "parts" / "haproxy")]
    config = site / "parts" / "haproxy" / "haproxy.cfg"
    assert config.read_text() == recipe.text
    assert stat.S_IMODE((site / "var" / "haproxy").stat().st_mode) == 0o700
    before = config.stat().st_mtime_ns
    os.utime(config, ns=(before - 10**9, before - 10**9))
    again = make({"servers": SERVERS, "binary": fake_haproxy}, directory=str(site))
    update(again)
    assert config.stat().st_mtime_ns == before - 10**9, "unchanged config must not be rewritten"


def test_bad_config_writes_nothing(tmp_path: Path) -> None:
    error_of(lambda: make({"servers": "client1", "port": "0"}, directory=str(tmp_path)))
    assert list(tmp_path.iterdir()) == []


def test_a_config_haproxy_refuses_is_reported_before_anything_is_written(tmp_path: Path, refusing_haproxy: str) -> None:
    assert_refused_before_writing(
        "haproxy", lambda site: make({"servers": SERVERS, "binary": refusing_haproxy}, directory=site), tmp_path)

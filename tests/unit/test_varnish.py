"""The varnish part: option validation (exact messages), the VCL, the command, the secret."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildout_harness import error_of, install, site_buildout, update
from part_fixtures import fake_varnishd, two_cores  # noqa: F401 - pytest fixtures
from support import check_golden, open_directory

from sitestack.recipes import system
from sitestack.recipes.system import blocked_directory, user_ids
from sitestack.recipes.varnish import JAIL_USER, Recipe

pytestmark = pytest.mark.usefixtures("two_cores")

SITE = "/srv/site"
BACKEND = {"backend": "127.0.0.1:8090"}


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    with open_directory() as path:
        yield path


def make(options: dict[str, str], directory: str = SITE, name: str = "varnish") -> Recipe:
    buildout = site_buildout(directory, **{name: options})
    return Recipe(buildout, name, buildout[name])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": ""}, "[varnish] backend: is required"),
        ({**BACKEND, "thread-pools": "0"}, "[varnish] thread-pools: expected auto or a number from 1 to 32 (got '0')"),
        ({**BACKEND, "thread-pools": "33"}, "[varnish] thread-pools: expected auto or a number from 1 to 32 (got '33')"),
        ({"backend": "haproxy"}, "[varnish] backend: expected host:port such as 127.0.0.1:8080 (got 'haproxy')"),
        (
            {"backend": "lb.example.com:8090"},
            (
                "[varnish] backend: expected host:port such as 127.0.0.1:8080; "
                "expected an IP address such as 127.0.0.1 (got 'lb.example.com:8090')"
            ),
        ),
        (
            {"probe-path": "haproxy-health"},
            "[varnish] probe-path: expected a URL path such as /health (got 'haproxy-health')",
        ),
        ({"probe-path": '/x"y'}, "[varnish] probe-path: expected a URL path such as /health (got '/x\"y')"),
        ({"host": "*"}, "[varnish] host: expected an IP address such as 127.0.0.1 (got '*')"),
        ({"port": "80800"}, "[varnish] port: expected a TCP port from 1 to 65535 (got '80800')"),
        ({"admin-port": "none"}, "[varnish] admin-port: expected a TCP port from 1 to 65535 (got 'none')"),
        ({"admin-port": "8080"}, "[varnish] admin-port: must differ from port (got '8080')"),
        (
            {"storage": "malloc,256 MB"},
            (
                "[varnish] storage: expected a storage such as malloc,256m or file,/var/cache/varnish.bin,1G "
                "(got 'malloc,256 MB')"
            ),
        ),
        (
            {"storage": "file,relative.bin,1G"},
            (
                "[varnish] storage: expected a storage such as malloc,256m or file,/var/cache/varnish.bin,1G "
                "(got 'file,relative.bin,1G')"
            ),
        ),
        (
            {"purge-allow": "127.0.0.1 localhost"},
            "[varnish] purge-allow: expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8 (got 'localhost')",
        ),
        (
            {"purge-allow": "10.0.0.1/8"},
            "[varnish] purge-allow: expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8 (got '10.0.0.1/8')",
        ),
        ({"interval": "1"}, "[varnish] interval: expected a duration such as 500ms, 1s or 2m (got '1')"),
        ({"timeout": "1sec"}, "[varnish] timeout: expected a duration such as 500ms, 1s or 2m (got '1sec')"),
        ({"window": "0"}, "[varnish] window: expected a whole number of at least 1 (got '0')"),
        ({"window": "65"}, "[varnish] window: expected a whole number of at most 64 (got '65')"),
        ({"threshold": "4"}, "[varnish] threshold: must not exceed window (3) (got '4')"),
        (
            {"connect-timeout": "fast"},
            "[varnish] connect-timeout: expected a duration such as 500ms, 1s or 2m (got 'fast')",
        ),
        (
            {"first-byte-timeout": "60"},
            "[varnish] first-byte-timeout: expected a duration such as 500ms, 1s or 2m (got '60')",
        ),
        (
            {"between-bytes-timeout": "0ms"},
            "[varnish] between-bytes-timeout: expected a duration such as 500ms, 1s or 2m (got '0ms')",
        ),
        (
            {"default-ttl": "forever"},
            "[varnish] default-ttl: expected a duration such as 500ms, 1s or 2m (got 'forever')",
        ),
        ({"priority": "-1"}, "[varnish] priority: expected a priority from 0 to 999 (got '-1')"),
        ({"group": "a/b"}, "[varnish] group: expected a name of letters, digits, '_', '.' and '-' (got 'a/b')"),
        ({"default_ttl": "2m"}, "[varnish] default_ttl: unknown option; did you mean 'default-ttl'? (got '2m')"),
        (
            {"binary": "/opt/varnish/sbin/varnishd"},
            (
                "[varnish] binary: /opt/varnish/sbin/varnishd not found; install it with: apt-get install -y varnish "
                "(got '/opt/varnish/sbin/varnishd')"
            ),
        ),
    ],
)
def test_bad_option_is_reported_exactly(options: dict[str, str], message: str) -> None:
    assert error_of(lambda: make({**BACKEND, **options})) == message


def test_every_problem_is_reported_at_once() -> None:
    options = {"backend": "x", "window": "2", "threshold": "3", "purge-allow": "a 10.0.0.0/8 b"}
    message = error_of(lambda: make(options))
    assert message.splitlines() == [
        "[varnish] backend: expected host:port such as 127.0.0.1:8080 (got 'x')",
        "[varnish] threshold: must not exceed window (2) (got '3')",
        "[varnish] purge-allow: expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8 (got 'a')",
        "[varnish] purge-allow: expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8 (got 'b')",
    ]


def test_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(system, "EXTRA_PATH", ())
    assert error_of(lambda: make(BACKEND)) == (
        "[varnish] binary: varnishd not found; install it with: apt-get install -y varnish (got 'varnishd')"
    )


def test_default_vcl_matches_golden_file(fake_varnishd: str) -> None:
    check_golden("varnish.vcl", make({**BACKEND, "binary": fake_varnishd}).text)


def test_every_option_reaches_the_vcl(fake_varnishd: str) -> None:
    recipe = make(
        {
            "backend": "[::1]:9090",
            "binary": fake_varnishd,
            "probe-path": "/lb-alive",
            "purge-allow": "127.0.0.1 ::1\n10.1.0.0/16 192.168.7.9 fd00::/8",
            "interval": "500ms",
            "timeout": "300ms",
            "window": "8",
            "threshold": "5",
            "connect-timeout": "1s",
            "first-byte-timeout": "90s",
            "between-bytes-timeout": "15s",
        }
    )
    check_golden("varnish-options.vcl", recipe.text)


def test_published_options_and_command(fake_varnishd: str) -> None:
    recipe = make({**BACKEND, "binary": fake_varnishd, "default-ttl": "5m", "storage": "file,/srv/cache.bin,2G"})
    published = {k: v for k, v in recipe.options.items() if k not in ("backend", "binary", "default-ttl", "storage")}
    assert published == {
        "address": "127.0.0.1:8080",
        "host": "127.0.0.1",
        "port": "8080",
        "vcl": "/srv/site/parts/varnish/varnish.vcl",
        "secret-file": "/srv/site/var/varnish/secret",
        "varnish-consumer": "varnish",
        "varnish-config": "/srv/site/parts/varnish/varnish.vcl",
        "varnish-secret": "/srv/site/var/varnish/secret",
        "varnish-admin": "127.0.0.1:6082",
        "workdir": "/srv/site/var/varnish-work",
        "programs": "varnish",
        "varnish-command": (
            f"{fake_varnishd} -F -a 127.0.0.1:8080 -T 127.0.0.1:6082 -S /srv/site/var/varnish/secret"
            " -f /srv/site/parts/varnish/varnish.vcl -n /srv/site/var/varnish-work"
            " -s file,/srv/cache.bin,2G -t 300 -p thread_pools=1"
        ),
        "varnish-directory": "/srv/site",
        "varnish-priority": "40",
        "varnish-group": "front",
        "varnish-health-url": "http://127.0.0.1:8080/haproxy-health",
        "varnish-watchdog": "false",
        "varnish-memory-quota": "",
        "varnish-address": "127.0.0.1:8080",
        "varnish-user": "",
        "varnish-stopsignal": "TERM",
        "varnish-stopwaitsecs": "10",
        "varnish-startsecs": "1",
        "varnish-environment": "",
        "varnish-other-addresses": "127.0.0.1:6082",
    }


def test_default_command(fake_varnishd: str) -> None:
    recipe = make({**BACKEND, "binary": fake_varnishd, "host": "::1", "port": "6081", "admin-port": "6083"})
    assert recipe.options["varnish-command"] == (
        f"{fake_varnishd} -F -a '[::1]:6081' -T 127.0.0.1:6083 -S /srv/site/var/varnish/secret"
        " -f /srv/site/parts/varnish/varnish.vcl -n /srv/site/var/varnish-work -s malloc,256m -t 120"
        " -p thread_pools=1"
    )


@pytest.mark.parametrize(("cores", "option", "pools"), [
    (1, "auto", 1), (2, "auto", 1), (4, "auto", 2), (64, "auto", 2), (2, "", 1), (2, "6", 6), (64, "1", 1),
])
def test_thread_pools_follow_the_build_hosts_cores(
    monkeypatch: pytest.MonkeyPatch, fake_varnishd: str, cores: int, option: str, pools: int
) -> None:
    monkeypatch.setattr(system, "host_cores", lambda: cores)
    recipe = make({**BACKEND, "binary": fake_varnishd, "thread-pools": option})
    assert recipe.options["varnish-command"].endswith(f" -t 120 -p thread_pools={pools}")


def test_install_creates_secret_once_and_never_publishes_it(open_tmp: Path, fake_varnishd: str) -> None:
    site = open_tmp / "site"
    site.mkdir()
    recipe = make({**BACKEND, "binary": fake_varnishd}, directory=str(site))
    assert list(site.iterdir()) == [], "__init__ must not write"
    assert install(recipe) == [str(site / "parts" / "varnish")]
    secret_file = site / "var" / "varnish" / "secret"
    secret = secret_file.read_text().strip()
    assert len(secret) >= 24
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    assert (site / "parts" / "varnish" / "varnish.vcl").read_text() == recipe.text
    assert not any(secret in value for value in recipe.options.values())
    assert secret not in recipe.text
    vcl = site / "parts" / "varnish" / "varnish.vcl"
    mtime = vcl.stat().st_mtime_ns - 10**9
    os.utime(vcl, ns=(mtime, mtime))
    update(make({**BACKEND, "binary": fake_varnishd}, directory=str(site)))
    assert secret_file.read_text().strip() == secret, "the secret is generated once and reused"
    assert vcl.stat().st_mtime_ns == mtime, "unchanged VCL must not be rewritten"


@pytest.mark.skipif(user_ids(JAIL_USER) is None, reason="no varnish user on this machine")
def test_blocked_directory_finds_what_the_jail_user_cannot_enter(open_tmp: Path) -> None:
    closed = open_tmp / "closed"
    (closed / "site").mkdir(parents=True)
    closed.chmod(0o700)
    try:
        assert blocked_directory(closed / "site" / "parts" / "varnish" / "varnish.vcl", JAIL_USER) == closed
        closed.chmod(0o711)
        assert blocked_directory(closed / "site" / "parts" / "varnish" / "varnish.vcl", JAIL_USER) is None
    finally:
        closed.chmod(0o755)


@pytest.mark.skipif(os.geteuid() != 0 or user_ids(JAIL_USER) is None, reason="the jail applies when run as root")
def test_root_build_refuses_a_vcl_the_jail_user_cannot_read(open_tmp: Path, fake_varnishd: str) -> None:
    closed = open_tmp / "home"
    (closed / "site").mkdir(parents=True)
    closed.chmod(0o700)
    assert error_of(lambda: make({**BACKEND, "binary": fake_varnishd}, directory=str(closed / "site"))) == (
        f"[varnish] vcl: varnishd started as root compiles the VCL as user 'varnish', which may not enter "
        f"{closed}; allow it (chmod o+x {closed}) or run supervisord as another user "
        f"(got '{closed}/site/parts/varnish/varnish.vcl')"
    )

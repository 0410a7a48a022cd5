"""The edge part (haproxy in front of varnish): option validation (exact messages), the rendered file
(golden), the build-time `haproxy -c`, what it publishes, and how site.json and reload find its socket."""

from __future__ import annotations

from pathlib import Path

import pytest
from buildout_harness import error_of, install, site_buildout
from part_fixtures import assert_refused_before_writing
from part_fixtures import fake_haproxy, refusing_haproxy, two_cores  # noqa: F401 - pytest fixtures
from support import check_golden

from sitestack.recipes.description import Balancer, Edge, Site
from sitestack.recipes.edge import Recipe

pytestmark = pytest.mark.usefixtures("two_cores")

SITE = "/srv/site"
BACKEND = "127.0.0.1:8060"


def make(options: dict[str, str], directory: str = SITE, name: str = "edge") -> Recipe:
    buildout = site_buildout(directory, **{name: options})
    return Recipe(buildout, name, buildout[name])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": ""}, "[edge] backend: is required"),
        ({"backend": "varnish"}, "[edge] backend: expected host:port such as 127.0.0.1:8080 (got 'varnish')"),
        ({"backend": "127.0.0.1:8080", "port": "8080"},
         "[edge] backend: must not be the edge's own address (host and port) (got '127.0.0.1:8080')"),
        ({"host": "example.com"}, "[edge] host: expected an IP address such as 127.0.0.1 (got 'example.com')"),
        ({"port": "0"}, "[edge] port: expected a TCP port from 1 to 65535 (got '0')"),
        ({"retries": "-1"}, "[edge] retries: expected a whole number of at least 0 (got '-1')"),
        ({"retries": "101"}, "[edge] retries: expected a whole number of at most 100 (got '101')"),
        ({"timeout-connect": "250"},
         "[edge] timeout-connect: expected a duration such as 500ms, 1s or 2m (got '250')"),
        ({"timeout-server": "soon"},
         "[edge] timeout-server: expected a duration such as 500ms, 1s or 2m (got 'soon')"),
        ({"global-maxconn": "0"}, "[edge] global-maxconn: expected a whole number of at least 1 (got '0')"),
        ({"threads": "0"}, "[edge] threads: expected auto or a number from 1 to 64 (got '0')"),
        ({"request-log": "none"}, "[edge] request-log: expected errors, ring, all (got 'none')"),
        ({"monitor-uri": "edge"}, "[edge] monitor-uri: expected a URL path such as /health (got 'edge')"),
        ({"purge-allow": "127.0.0.1 everyone"},
         "[edge] purge-allow: expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8 (got 'everyone')"),
        ({"priority": "1000"}, "[edge] priority: expected a priority from 0 to 999 (got '1000')"),
        ({"user": "no-such-user-here"},
         "[edge] user: expected the name of a user on this machine (got 'no-such-user-here')"),
        ({"servers": "varnish=127.0.0.1:8060"}, "[edge] servers: unknown option (got 'varnish=127.0.0.1:8060')"),
        ({"retry": "3"}, "[edge] retry: unknown option; did you mean 'retries'? (got '3')"),
        ({"binary": "haproxy-not-installed"},
         "[edge] binary: haproxy-not-installed not found; install it with: apt-get install -y haproxy "
         "(got 'haproxy-not-installed')"),
    ],
)
def test_bad_option_is_reported_exactly(fake_haproxy: str, options: dict[str, str], message: str) -> None:
    assert error_of(lambda: make({"backend": BACKEND, "binary": fake_haproxy, **options})) == message


def test_every_problem_is_reported_at_once(fake_haproxy: str) -> None:
    message = error_of(lambda: make({"backend": "x", "port": "x", "retries": "many", "binary": fake_haproxy}))
    assert message.splitlines() == [
        "[edge] backend: expected host:port such as 127.0.0.1:8080 (got 'x')",
        "[edge] port: expected a TCP port from 1 to 65535 (got 'x')",
        "[edge] retries: expected a whole number (got 'many')",
    ]


def test_bad_config_writes_nothing(tmp_path: Path, fake_haproxy: str) -> None:
    error_of(lambda: make({"backend": "varnish", "binary": fake_haproxy}, directory=str(tmp_path)))
    assert [p.name for p in tmp_path.iterdir()] == ["haproxy"]  # the fake binary only


def test_a_config_haproxy_refuses_is_reported_before_anything_is_written(tmp_path: Path, refusing_haproxy: str) -> None:
    assert_refused_before_writing(
        "edge", lambda site: make({"backend": BACKEND, "binary": refusing_haproxy}, directory=site), tmp_path)


def test_default_config_matches_golden_file(fake_haproxy: str) -> None:
    check_golden("edge.cfg", make({"backend": BACKEND, "binary": fake_haproxy}).text)


def test_options_reach_the_config(fake_haproxy: str) -> None:
    text = make({"backend": "[::1]:8060", "binary": fake_haproxy, "host": "0.0.0.0", "port": "80",
                 "retries": "8", "timeout-connect": "500ms", "threads": "3", "request-log": "all",
                 "purge-allow": "10.0.0.0/8 127.0.0.1", "monitor-uri": "/up"}).text
    for line in ("    nbthread 3\n", "    log stdout format raw local0\n", "    timeout connect 500ms\n",
                 "    bind 0.0.0.0:80\n", "    monitor-uri /up\n", "    acl purger src 10.0.0.0/8 127.0.0.1/32\n",
                 "    retries 8\n", "    server varnish [::1]:8060\n"):
        assert line in text, line
    assert "set-log-level notice" not in text  # request-log = all logs every request anyway


def test_published_options(fake_haproxy: str) -> None:
    recipe = make({"backend": BACKEND, "binary": fake_haproxy})
    published = {key: value for key, value in recipe.options.items() if key not in ("backend", "binary")}
    assert published == {
        "address": "127.0.0.1:8080",
        "host": "127.0.0.1",
        "port": "8080",
        "monitor-uri": "/edge-health",
        "stats-socket": "/srv/site/var/edge/admin.sock",
        "config": "/srv/site/parts/edge/haproxy.cfg",
        "edge-consumer": "haproxy",
        "edge-config": "/srv/site/parts/edge/haproxy.cfg",
        "programs": "edge",
        "edge-command": f"{fake_haproxy} -W -db -f /srv/site/parts/edge/haproxy.cfg",
        "edge-directory": "/srv/site",
        "edge-priority": "50",
        "edge-group": "front",
        "edge-health-url": "http://127.0.0.1:8080/edge-health",
        "edge-watchdog": "false",
        "edge-memory-quota": "",
        "edge-address": "127.0.0.1:8080",
        "edge-user": "",
        "edge-stopsignal": "USR1",
        "edge-stopwaitsecs": "10",
        "edge-startsecs": "1",
        "edge-environment": "",
    }


def test_install_writes_config_and_private_socket_directory(tmp_path: Path, fake_haproxy: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    recipe = make({"backend": BACKEND, "binary": fake_haproxy}, directory=str(site))
    assert not (site / "parts").exists(), "__init__ must not write"
    assert install(recipe) == [str(site / "parts" / "edge")]
    assert (site / "parts" / "edge" / "haproxy.cfg").read_text() == recipe.text
    assert (site / "var" / "edge").stat().st_mode & 0o777 == 0o700


def test_site_json_names_the_edge_and_reload_finds_each_haproxys_socket(tmp_path: Path) -> None:
    balancer = Balancer("/srv/var/haproxy/admin.sock", "clients", ("client1",), "haproxy")
    site = Site(tmp_path, tmp_path / "supervisord.conf", (), balancer, edge=Edge("edge", "/srv/var/edge/admin.sock"))
    assert Site.loads(site.dumps()) == site
    assert site.admin_socket("edge") == "/srv/var/edge/admin.sock"
    assert site.admin_socket("haproxy") == "/srv/var/haproxy/admin.sock"
    assert site.admin_socket("other") is None
    assert '"edge"' not in Site(tmp_path, tmp_path / "supervisord.conf", (), balancer).dumps()


def test_the_supervisor_parts_edge_option_names_an_edge_part() -> None:
    from sitestack.recipes.errors import ConfigError
    from sitestack.recipes.options import OptionReader
    from sitestack.recipes.supervisor_programs import edge_of

    buildout = {"edge": {"programs": "edge", "stats-socket": "/srv/var/edge/admin.sock"}, "varnish": {"programs": "varnish"}}
    assert edge_of(buildout, OptionReader({"edge": "edge"}, ["edge"])) == Edge("edge", "/srv/var/edge/admin.sock")
    assert edge_of(buildout, OptionReader({}, ["edge"])) is None
    reader = OptionReader({"edge": "varnish"}, ["edge"])
    assert edge_of(buildout, reader) is None
    with pytest.raises(ConfigError) as error:
        reader.done()
    assert error.value.describe("supervisor") == \
        "[supervisor] edge: expected the name of an edge part (recipe sitestack:edge) (got 'varnish')"

"""The cluster description: [cluster] hosts and [host] name, read by the sitestack:cluster part."""
from __future__ import annotations

from typing import Any

import pytest
import zc.buildout
from buildout_harness import site_buildout

from sitestack.recipes.cluster import Cluster, Host, Recipe, parse_cluster
from sitestack.recipes.errors import ConfigError

HOSTS = """
    db     10.77.0.1  db
    app1   10.77.0.2  app
    app2   10.77.0.3  app
    front  10.77.0.4  front
"""


def build(name: str, role: str, hosts: str = HOSTS, **extra: str) -> Any:
    """The cluster part's options once its recipe has published into them, as bin/buildout runs it."""
    buildout = site_buildout("/srv/site", host={"name": name}, cluster={"hosts": hosts, "role": role, **extra})
    Recipe(buildout, "cluster", buildout["cluster"])
    return buildout["cluster"]


def test_the_hosts_are_parsed_in_order() -> None:
    assert parse_cluster(HOSTS) == Cluster((Host("db", "10.77.0.1", "db"), Host("app1", "10.77.0.2", "app"),
                                            Host("app2", "10.77.0.3", "app"), Host("front", "10.77.0.4", "front")))


def test_each_role_learns_its_address_the_zeo_server_and_the_front() -> None:
    app = build("app1", "app", clients="3", **{"client-port": "9001", "zeo-port": "9100"})
    assert (app["address"], app["zeo-address"], app["front-address"], app["role"]) == \
        ("10.77.0.2", "10.77.0.1:9100", "10.77.0.4", "app")
    front = build("front", "front", clients="2")
    assert front["servers"] == ("app1.client1=10.77.0.2:8081 app1.client2=10.77.0.2:8082 "
                                "app2.client1=10.77.0.3:8081 app2.client2=10.77.0.3:8082")
    assert build("db", "db")["address"] == "10.77.0.1"


BAD = [
    ("    app1 10.77.0.2", "[cluster] hosts: expected one host per line: its name, private address and role, "
     "such as 'app1 10.77.0.2 app' (got 'app1 10.77.0.2')"),
    ("    app.1 10.77.0.2 app", "[cluster] hosts: expected a host name of letters, digits, '_' and '-' (no '.': "
     "haproxy's server names are host.client) (got 'app.1 10.77.0.2 app')"),
    ("    app1 app1.example.com app", "[cluster] hosts: expected an IP address as the host's second word, such as "
     "'app1 10.77.0.2 app' (got 'app1 app1.example.com app')"),
    ("    app1 0.0.0.0 app", "[cluster] hosts: expected the host's own private address, not a wildcard or "
     "multicast address (got 'app1 0.0.0.0 app')"),
    ("    app1 10.77.0.2 web", "[cluster] hosts: expected the role db, app or front as the host's third word "
     "(got 'app1 10.77.0.2 web')"),
    ("    app1 10.77.0.9 app", "[cluster] hosts: host 'app1' is listed twice (got 'app1 10.77.0.9 app')"),
    ("    app3 10.77.0.2 app", "[cluster] hosts: address 10.77.0.2 is listed twice (got 'app3 10.77.0.2 app')"),
    ("    db2 10.77.0.9 db", "[cluster] hosts: expected exactly one db host (got 'db db2')"),
]


@pytest.mark.parametrize("line,message", BAD, ids=[m.split("(got")[0][18:60] for _, m in BAD])
def test_a_bad_hosts_line_is_one_line_naming_it(line: str, message: str) -> None:
    with pytest.raises(zc.buildout.UserError) as error:
        build("front", "front", HOSTS + line + "\n")
    assert str(error.value) == message


def test_no_app_host_and_no_front_are_refused() -> None:
    with pytest.raises(ConfigError) as error:
        parse_cluster("db 10.0.0.1 db\n")
    assert [p.describe("cluster") for p in error.value.problems] == [
        "[cluster] hosts: expected exactly one front host (got '')",
        "[cluster] hosts: expected at least one app host (got '')",
    ]


@pytest.mark.parametrize("host,role,message", [
    ("app7", "app", "[host] name: expected one of the hosts in [cluster] hosts (db, app1, app2, front) (got 'app7')"),
    ("", "app", "[host] name: is required: the name of this host in [cluster] hosts"),
    ("db", "front", "[cluster] role: host 'db' plays 'db' in [cluster] hosts, but this buildout extends "
                    "profiles/front.cfg (got 'front')"),
])
def test_the_host_must_be_in_the_cluster_with_the_profiles_role(host: str, role: str, message: str) -> None:
    with pytest.raises(zc.buildout.UserError) as error:
        build(host, role)
    assert str(error.value) == message


def test_missing_hosts_is_required() -> None:
    with pytest.raises(zc.buildout.UserError) as error:
        build("db", "db", hosts="")
    assert str(error.value).startswith("[cluster] hosts: is required: one line per host, such as")

"""site.json: the one description operator commands read (sitestack.recipes.description)."""
from __future__ import annotations

from pathlib import Path

import json

from sitestack.recipes.address import Address
from sitestack.recipes.description import (Balancer, Consumer, ControlServer, HealthCheck, MemoryQuotas, Site,
                                           SiteProgram, WatchdogRules)


def described(tmp_path: Path) -> Site:
    secret = tmp_path / "control-password"
    secret.write_text("s3cret\n")
    varnish = Consumer("varnish", "/srv/parts/varnish/varnish.vcl", "/srv/var/varnish/secret",
                       Address("127.0.0.1", 6082))
    return Site(
        tmp_path, tmp_path / "supervisord.conf",
        (SiteProgram("client1", "zeo-clients", 20, "http://127.0.0.1:8081/health", Address("127.0.0.1", 8081), True,
                     800 * 2**20, 30.0, "client1", "/srv/bin/client1", "sitestack"),
         SiteProgram("varnish", "front", 40, command="/usr/sbin/varnishd -F", consumer=varnish)),
        Balancer("/srv/var/haproxy/admin.sock", "clients", ("client1",), "haproxy"),
        {"backup": "/srv/parts/backup/backup.json"},
        ControlServer(str(tmp_path / "supervisord.conf"), "unix:///srv/var/supervisor.sock", "sitestack",
                      str(secret), "/srv/var/supervisor.sock", "0700", None, "/srv/var/supervisord.pid", "root"),
    )


def test_site_json_reads_back_what_was_written(tmp_path):
    site = described(tmp_path)
    path = tmp_path / "site.json"
    path.write_text(site.dumps())
    assert Site.load(path) == site
    assert [p.name for p in Site.load(path).consumers("varnish")] == ["varnish"]


def test_the_default_watchdog_rules_are_written_in_bytes_and_seconds_and_read_back(tmp_path):
    rules = WatchdogRules(
        MemoryQuotas(groups=(("zeo-clients", 800 * 2**20),), programs=(("workers:worker_00", 300 * 2**20),),
                     email="ops@example.com"),
        (HealthCheck("http://127.0.0.1:8081/health", ("client1",), 2.0, "ops@example.com"),), 30)
    site = Site(tmp_path, tmp_path / "supervisord.conf", (), watchdog=rules)
    assert json.loads(site.dumps())["watchdog"] == {
        "memory": {"groups": [["zeo-clients", 838860800]], "programs": [["workers:worker_00", 314572800]],
                   "email": "ops@example.com"},
        "health": [{"url": "http://127.0.0.1:8081/health", "programs": ["client1"], "timeout": 2.0,
                    "email": "ops@example.com"}],
        "grace": 30,
    }
    assert Site.loads(site.dumps()) == site
    # a site without a default watchdog writes no section (and reads back None)
    assert "watchdog" not in json.loads(described(tmp_path).dumps())
    assert Site.loads(described(tmp_path).dumps()).watchdog is None


def test_commands_reach_supervisord_with_the_password_file(tmp_path):
    assert described(tmp_path).control() == ("unix:///srv/var/supervisor.sock", "sitestack", "s3cret")


def test_conf_d_reads_the_system_supervisorctl_section(tmp_path):
    conf = tmp_path / "system.conf"
    conf.write_text("[supervisorctl]\nserverurl = unix:///run/supervisor.sock\n")
    site = Site(tmp_path, conf, (), control_server=ControlServer(str(conf)))
    assert site.control() == ("unix:///run/supervisor.sock", "", "")


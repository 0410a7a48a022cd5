"""The exporter's pure parts: counters, causes, haproxy/varnish parsing, crash events, its options."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from buildout_harness import error_of, site_buildout
from prometheus_client import CollectorRegistry, generate_latest

from sitestack.control.counters import BUCKETS, RestartCounts, WatchdogStats, cause_of
from sitestack.control.site import Site, SiteProgram
from sitestack.control.status import memory, restarts
from sitestack.exporter.front import server_rows, server_state, varnish_counters
from sitestack.exporter.main import count_crash
from sitestack.exporter.programs import ProgramCollector, WatchdogCollector
from sitestack.recipes.exporter import Recipe

STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,chkfail
site,FRONTEND,,,1,2,256,10,0,0,0,0,0,,,,,OPEN,
clients,client1,0,0,2,4,4,100,0,0,,0,,0,0,3,1,UP,0
clients,client2,0,0,0,4,4,90,0,0,,0,,0,0,0,0,MAINT (via x),7
clients,BACKEND,0,0,2,8,26,190,0,0,0,0,,0,0,3,1,UP,
"""


@pytest.mark.parametrize(("reason", "cause"), [
    ("memory 912MB > 800MB", "memory"), ("health http://127.0.0.1:8081/health: no answer", "health"),
    ("rolling restart", "rolling"), ("reload", "reload"), ("its command changed", "operator"), ("", "operator"),
])
def test_cause_of_a_reason(reason: str, cause: str) -> None:
    assert cause_of(reason) == cause


def test_restart_counts_add_up_and_survive_a_bad_file(tmp_path: Path) -> None:
    counts = RestartCounts(tmp_path)
    counts.add("zeo-clients:client1", "crash", "restarted")
    counts.add("zeo-clients:client1", "crash", "restarted")
    counts.add("zeo-clients:client1", "health", "over-budget")
    assert counts.read() == {"zeo-clients:client1": {"crash": {"restarted": 2}, "health": {"over-budget": 1}}}
    counts.path.write_text("{half")
    assert counts.read() == {}
    counts.add("w:worker_00", "memory", "restarted")
    assert counts.read() == {"w:worker_00": {"memory": {"restarted": 1}}}


def test_check_stats_histogram_is_cumulative_and_kept(tmp_path: Path) -> None:
    stats = WatchdogStats(tmp_path)
    check = stats.check("http://x/health", "client1")
    for seconds, failed in ((0.004, False), (0.2, False), (30.0, True)):
        check.observe(seconds, failed)
    stats.save()
    again = WatchdogStats(tmp_path).checks["http://x/health"]
    assert (again.run, again.failed, again.count) == (3, 1, 3)
    cumulative = dict(again.cumulative())
    assert cumulative["0.005"] == 1 and cumulative["0.25"] == 2 and cumulative["10.0"] == 2
    assert cumulative["+Inf"] == 3 and len(cumulative) == len(BUCKETS) + 1


def test_watchdog_collector_exposes_the_histogram(tmp_path: Path) -> None:
    stats = WatchdogStats(tmp_path)
    stats.check("http://x/health", "client1").observe(0.02, True)
    stats.save()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchdogCollector(Site(tmp_path, tmp_path, ())))
    text = generate_latest(registry).decode()
    assert 'sitestack_watchdog_checks_failed_total{program="client1",url="http://x/health"} 1.0' in text
    assert 'sitestack_watchdog_check_seconds_bucket{le="0.025",program="client1",url="http://x/health"} 1.0' in text


class FakeRPC:
    def __init__(self, infos: list[dict]) -> None:
        self.supervisor = self
        self.infos = infos

    def getAllProcessInfo(self) -> list[dict]:  # noqa: N802 - supervisor's name
        return self.infos


def test_program_collector_counts_restarts_by_cause(tmp_path: Path) -> None:
    RestartCounts(tmp_path).add("zeo-clients:client1", "crash", "restarted")
    RestartCounts(tmp_path).add("zeo-clients:client1", "health", "deferred")
    site = Site(tmp_path, tmp_path, (SiteProgram("client1", "zeo-clients", 20, memory_quota=800 * 2**20),))
    info = {"name": "client1", "group": "zeo-clients", "statename": "STOPPED", "pid": 0, "start": 0}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProgramCollector(site, lambda: FakeRPC([info])))
    text = generate_latest(registry).decode()
    labels = 'group="zeo-clients",program="client1"'
    for line in (f'sitestack_program_up{{{labels}}} 0.0', f'sitestack_program_memory_quota_bytes{{{labels}}} 8.388608e+08',
                 f'sitestack_program_restarts_total{{cause="crash",{labels}}} 1.0',
                 f'sitestack_program_restarts_total{{cause="health",{labels}}} 0.0',
                 f'sitestack_watchdog_restarts_refused_total{{{labels},reason="rotation"}} 1.0',
                 f'sitestack_program_state{{{labels},state="STOPPED"}} 1.0'):
        assert line in text, line
    assert "sitestack_program_rss_bytes{" not in text  # no process, no figure


def test_crash_events() -> None:
    class Counts:
        added: list = []

        def add(self, *args: str) -> None:
            self.added.append(args)
    counts = Counts()
    assert count_crash(counts, "processname:client1 groupname:zeo-clients from_state:RUNNING expected:0 pid:12") \
        == "zeo-clients:client1"
    assert count_crash(counts, "processname:worker_00 groupname:workers from_state:RUNNING expected:1 pid:13") is None
    assert counts.added == [("zeo-clients:client1", "crash", "restarted")]


def test_haproxy_rows_and_states() -> None:
    rows = server_rows(STAT, "clients")
    assert [(r["svname"], server_state(r["status"]), r["wretr"], r["chkfail"]) for r in rows] == [
        ("client1", "UP", "3", "0"), ("client2", "MAINT", "0", "7")]
    assert [server_state(s) for s in ("UP 1/2", "DOWN 1/2", "DRAIN", "no check", "NOLB", "?")] == [
        "UP", "DOWN", "DRAIN", "NOCHECK", "NOLB", "DOWN"]


def test_varnish_counters_both_formats() -> None:
    new = {"version": 1, "timestamp": "x", "counters": {"MAIN.cache_hit": {"value": 5, "flag": "c"},
                                                        "VBE.boot.haproxy.happy": {"value": 3, "flag": "b"}}}
    old = {"timestamp": "x", "MAIN.cache_hit": {"value": 5, "flag": "c"}}
    assert varnish_counters(json.dumps(new)) == {"MAIN.cache_hit": 5, "VBE.boot.haproxy.happy": 3}
    assert varnish_counters(json.dumps(old)) == {"MAIN.cache_hit": 5}


def test_status_columns() -> None:
    assert restarts({"crash": {"restarted": 1}, "health": {"restarted": 2, "over-budget": 4}}) == "health 2 crash 1"
    assert restarts({}) == "-"
    assert memory(0, 100) == "-"


@pytest.mark.parametrize(("options", "message"), [
    ({"host": "0.0.0.0"}, "[exporter] host: the metrics endpoint binds loopback unless you say `public = true` "
                          "as well (got '0.0.0.0')"),
    ({"port": "70000"}, "[exporter] port: expected a TCP port from 1 to 65535 (got '70000')"),
    ({"scrape-interval": "15"}, "[exporter] scrape-interval: expected a duration such as 500ms, 1s or 2m (got '15')"),
    ({"timeout": "0"}, "[exporter] timeout: expected a number of seconds from 0.1 to 60 (got '0')"),
    ({"job": "a b"}, "[exporter] job: expected a name of letters, digits, '_', '.' and '-' (got 'a b')"),
    ({"varnishstat": "no-such-varnishstat", "varnish-workdir": "/x"},
     "[exporter] varnishstat: no-such-varnishstat not found; install it with: apt-get install -y varnish "
     "(got 'no-such-varnishstat')"),
])
def test_bad_options(tmp_path: Path, options: dict, message: str) -> None:
    buildout = site_buildout(tmp_path, exporter=options)
    assert error_of(lambda: Recipe(buildout, "exporter", buildout["exporter"])) == message


def test_public_bind_is_an_explicit_choice(tmp_path: Path) -> None:
    buildout = site_buildout(tmp_path, exporter={"host": "0.0.0.0", "public": "true"})
    options = buildout["exporter"]
    Recipe(buildout, "exporter", options)
    assert options["address"] == "0.0.0.0:9180" and options["exporter-kind"] == "eventlistener"
    assert options["exporter-events"] == "PROCESS_STATE_EXITED"


def test_tree_rss_adds_up_the_children() -> None:
    import os
    import subprocess
    import sys

    from sitestack.control.processes import tree_rss

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import psutil

        def alone() -> int:
            return psutil.Process(os.getpid()).memory_info().rss
        sizes = tree_rss([os.getpid(), 2**22 + 7])  # a PID that cannot exist has no figure
        assert list(sizes) == [os.getpid()]
        assert sizes[os.getpid()] >= alone() + psutil.Process(child.pid).memory_info().rss // 2
    finally:
        child.kill()
        child.wait()

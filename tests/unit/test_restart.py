"""The restart routine's pure decisions: haproxy's show stat, who may go out, the hourly budget."""
import pytest

from sitestack.control.haproxy_runtime import ServerState, parse_stat
from sitestack.control.restart import refusal
from sitestack.control.restart_log import over_budget
from sitestack.control.rolling import clients
from sitestack.control.site import Balancer, Site, SiteProgram

STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status
site,FRONTEND,,,1,2,256,10,0,0,0,0,0,,,,,OPEN
clients,client1,0,0,2,4,4,100,0,0,,0,,0,0,0,0,UP
clients,client2,0,0,0,4,4,90,0,0,,0,,0,0,0,0,DRAIN
clients,client3,0,0,0,4,4,90,0,0,,0,,0,0,0,0,DOWN 1/2
clients,BACKEND,0,0,2,8,26,190,0,0,0,0,,0,0,0,0,UP
"""


def states(**status):
    return {name: ServerState(name, text, 0) for name, text in status.items()}


def test_show_stat_gives_each_server_of_the_backend():
    assert parse_stat(STAT, "clients") == {
        "client1": ServerState("client1", "UP", 2),
        "client2": ServerState("client2", "DRAIN", 0),
        "client3": ServerState("client3", "DOWN 1/2", 0),
    }
    assert parse_stat(STAT, "other") == {}


@pytest.mark.parametrize(("servers", "target", "max_out", "expected"), [
    (states(client1="UP", client2="UP"), "client1", 1, None),
    (states(client1="UP", client2="MAINT"), "client1", 1, "client1 is the last client in rotation"),
    (states(client1="UP", client2="DRAIN", client3="UP"), "client1", 1,
     "1 client(s) already out of rotation (client2); at most 1 at once"),
    (states(client1="UP", client2="DRAIN", client3="UP"), "client1", 2, None),
    (states(client1="DOWN", client2="DOWN"), "client1", 1, None),  # already out: nothing taken away
    (states(client1="UP"), "client1", 1, None),  # a single client: nothing could take over
    (states(client1="UP 1/2", client2="UP"), "client2", 1, None),
])
def test_at_most_k_out_and_never_the_last_one(servers, target, max_out, expected):
    assert refusal(servers, target, max_out) == expected


def test_budget_counts_the_last_hour_only():
    now = 10_000.0
    assert not over_budget([now - 4000, now - 3700], now, 2)
    assert not over_budget([now - 100], now, 2)
    assert over_budget([now - 100, now - 10], now, 2)


def test_rolling_restart_takes_the_balanced_clients_in_order(tmp_path):
    programs = (SiteProgram("haproxy", "front", 30), SiteProgram("client2", "zeo-clients", 20),
                SiteProgram("client1", "zeo-clients", 20))
    site = Site(tmp_path, tmp_path / "s.conf", programs, Balancer("/x.sock", "clients", ("client1", "client2")))
    assert [p.namespec for p in clients(site)] == ["zeo-clients:client1", "zeo-clients:client2"]


def test_show_stat_reads_the_slow_start_throttle():
    text = "# pxname,svname,scur,status,throttle\nclients,client1,0,UP,40\nclients,client2,0,UP,\n"
    assert parse_stat(text, "clients") == {"client1": ServerState("client1", "UP", 0, 40),
                                           "client2": ServerState("client2", "UP", 0, None)}


@pytest.mark.parametrize(("status", "throttle", "expected"), [
    ("UP", None, True), ("UP", 100, True), ("UP", 40, False), ("UP 1/2", None, True),
    ("UP, going down", None, False), ("DOWN", None, False), ("MAINT", None, False), ("DOWN 1/1", None, False),
])
def test_fully_up_means_up_with_slow_start_over(status, throttle, expected):
    from sitestack.control.ready import fully_up
    assert fully_up(status, throttle) is expected


@pytest.mark.parametrize(("url", "paths"), [
    ("http://127.0.0.1:8081/health", ("/",)), ("http://127.0.0.1:8081/Plone/@@ok", ("/Plone",)),
    ("http://127.0.0.1:8081/", ("/",)), ("http://127.0.0.1:8081", ("/",)), ("", ()),
])
def test_warm_up_by_default_on_the_page_the_health_url_belongs_to(url, paths):
    from sitestack.control.ready import warmup_paths
    assert warmup_paths(url) == paths


def test_restarts_under_way_name_their_live_restarter_only(tmp_path):
    import json
    import os

    from sitestack.control.underway import UnderWay

    record = UnderWay(tmp_path)
    record.begin("zeo-clients:client1")
    assert record.handling() == {"zeo-clients:client1"}
    assert record.by_other("zeo-clients:client1") == 0  # this process's own restart
    dead = _exited_pid()
    data = json.loads((tmp_path / "restarting.json").read_text())
    data["zeo-clients:client2"] = [dead, 1.0]
    data["zeo-clients:client3"] = [os.getppid(), 1.0]
    (tmp_path / "restarting.json").write_text(json.dumps(data))
    assert record.handling() == {"zeo-clients:client1", "zeo-clients:client3"}  # client2's restarter is gone
    assert record.by_other("zeo-clients:client3") == os.getppid()
    record.end("zeo-clients:client1")
    assert record.handling() == {"zeo-clients:client3"}


def _exited_pid() -> int:
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid

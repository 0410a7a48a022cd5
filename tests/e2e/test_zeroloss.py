"""Changes to a running stack and crashes of its front, under 16 connections of mixed GETs and POSTs.

Each test asserts 0 failed requests, a non-empty fault window, and every acknowledged write stored
exactly once: a changed haproxy option (seamless reload), a changed edge option (seamless reload), a
changed VCL (vcl.load, the cache kept), one client's option changed and reloaded, a client added by
reload, kill -9 of haproxy, kill -9 of varnish's cache process, concurrent writers with no fault, kill -9
of a worker mid-job. They share one stack of their own site, with the edge (profiles/edge.cfg: haproxy
in front of varnish; the load goes to it), started once (the faults of the app clients and of ZEO are in
test_selfheal.py, under the same load, without the edge).
"""
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import Site, sibling_checkout
from e2e.site import Ports, Stack, edge_config
from e2e.underload import assert_nothing_lost, failed_lines, running_pid, signal_pid, under_load
from sitestack.control.front import worker_pid
from sitestack.control.processes import descendants
from support import free_port_range, http_get, poll_for, scrape, tail

pytestmark = pytest.mark.e2e
EXTRA = "[worker]\nwork-delay = 0.05\n"


@pytest.fixture(scope="module")
def zl_site(bootstrapped: Path, egg_cache: Path) -> Site:
    """A site of its own, with the edge, and room for a third client (client3's port is free too)."""
    dest = sibling_checkout(bootstrapped, "zeroloss")
    ports = Ports(clients=free_port_range(3))
    crontab = dest / "crontab.txt"
    crontab.write_text("")
    (dest / "buildout.cfg").write_text(edge_config(ports, crontab, egg_cache, 2, EXTRA))
    site = Site(dest, ports, crontab, egg_cache, edge=True)
    site.buildout()
    return site


@pytest.fixture(scope="module")
def zl_stack(zl_site: Site) -> Iterator[Stack]:
    stack = Stack(zl_site.path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def serving(site: Site, stack: Stack, clients: int = 2) -> bool:
    """Every program RUNNING, at least `clients` clients and every client UP in haproxy, a page served."""
    infos = stack.all_running()
    if not infos:
        return False
    from e2e.test_selfheal import up

    names = [i["name"] for i in infos if i["group"] == "zeo-clients"]
    return len(names) >= clients and all(up(site, name) for name in names) and \
        http_get(site.front + "/api/notes?limit=1", timeout=5)[0] == 200


@pytest.fixture
def ready(zl_site: Site, zl_stack: Stack) -> Stack:
    poll_for(lambda: serving(zl_site, zl_stack), 90, "the stack serving with both clients", zl_stack.explain)
    return zl_stack


def pid_of(stack: Stack, namespec: str) -> int:
    info = stack.rpc().supervisor.getProcessInfo(namespec)
    return int(info["pid"]) if info["statename"] == "RUNNING" else 0


def change(site: Site, extra: str) -> None:
    """Append to buildout.cfg and re-run bin/buildout (nothing running is touched by it)."""
    config = site.path / "buildout.cfg"
    config.write_text(config.read_text() + "\n" + extra)
    site.buildout()


def reload(site: Site) -> str:
    result = subprocess.run([str(site.path / "bin" / "sitestack"), "reload"], capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    logs = "\n".join(tail(log, 12) for log in (site.path / "var" / "log").iterdir() if "haproxy" in log.name or "edge" in log.name
                      or "varnish" in log.name)
    assert result.returncode == 0, result.stdout + result.stderr + logs
    return result.stdout


def explain(site: Site, stack: Stack):
    return lambda: "\n".join(failed_lines(site.path / "var" / "log" / f"{name}.log") for name in ("edge", "haproxy")) \
        + "\n" + stack.explain()


def test_a_haproxy_option_change_is_a_seamless_reload(zl_site, ready):
    master = pid_of(ready, "front:haproxy")
    change(zl_site, "[haproxy]\ntimeout-queue = 29s\n")
    out: list[str] = []
    result = under_load(zl_site.front, "haproxy option change", lambda load: out.append(reload(zl_site)),
                        lambda: serving(zl_site, ready))
    assert "haproxy reloaded seamlessly" in out[0] and "restarting front:haproxy" not in out[0], out[0]
    assert pid_of(ready, "front:haproxy") == master  # reloaded, not restarted
    assert_nothing_lost(result, explain(zl_site, ready))


def cached_age(site: Site) -> tuple[str, int]:
    status, _, answer = http_get(site.front + "/cached")
    assert status == 200
    headers = {name.lower(): value for name, value in answer.items()}  # haproxy sends names in lower case
    return headers.get("x-cache", ""), int(headers.get("age", "0"))


def test_an_edge_option_change_is_a_seamless_reload(zl_site, ready):
    master = pid_of(ready, "front:edge")
    socket = str(zl_site.path / "var" / "edge" / "admin.sock")
    worker = worker_pid(socket)
    assert worker, f"no edge worker answers on {socket}"
    change(zl_site, "[edge]\ntimeout-client = 59s\n")
    out: list[str] = []
    result = under_load(zl_site.front, "edge option change", lambda load: out.append(reload(zl_site)),
                        lambda: serving(zl_site, ready))
    assert "reloading front:edge" in out[0] and "restarting front:edge" not in out[0], out[0]
    assert "haproxy reloaded seamlessly" in out[0].split("reloading front:edge")[1], out[0]
    assert pid_of(ready, "front:edge") == master  # reloaded, not restarted
    assert worker_pid(socket) not in (None, worker)
    assert_nothing_lost(result, explain(zl_site, ready))


def test_a_vcl_change_is_loaded_and_the_cache_survives(zl_site, ready):
    varnish = pid_of(ready, "front:varnish")
    cached_age(zl_site)
    time.sleep(1.1)
    assert cached_age(zl_site)[0] == "HIT"
    change(zl_site, "[varnish]\nwindow = 4\n")
    out: list[str] = []
    result = under_load(zl_site.front, "VCL change", lambda load: out.append(reload(zl_site)),
                        lambda: serving(zl_site, ready))
    assert "cache kept" in out[0] and "restarting front:varnish" not in out[0], out[0]
    assert pid_of(ready, "front:varnish") == varnish
    hit, age = cached_age(zl_site)
    assert hit == "HIT" and age >= 1, (hit, age)  # the object cached before the change, with its age
    assert_nothing_lost(result, explain(zl_site, ready))


def test_reload_after_one_clients_option_change_restarts_it_drained(zl_site, ready):
    old = {n: pid_of(ready, f"zeo-clients:client{n}") for n in (1, 2)}
    change(zl_site, "[clients]\nclient2-threads = 3\n")
    out: list[str] = []
    result = under_load(zl_site.front, "reload after client2's option change",
                        lambda load: out.append(reload(zl_site)), lambda: serving(zl_site, ready))
    assert pid_of(ready, "zeo-clients:client1") == old[1]
    assert pid_of(ready, "zeo-clients:client2") not in (0, old[2]), out[0]
    assert_nothing_lost(result, explain(zl_site, ready))


def test_reload_after_adding_a_client_adds_it_without_stopping_the_others(zl_site, ready):
    old = {n: pid_of(ready, f"zeo-clients:client{n}") for n in (1, 2)}
    master = pid_of(ready, "front:haproxy")
    config = zl_site.path / "buildout.cfg"
    text = config.read_text()
    assert text.count("\nclients = 2\n") == 1, text  # [site] clients, set once (a second one is refused)
    config.write_text(text.replace("\nclients = 2\n", "\nclients = 3\n"))
    zl_site.buildout()
    out: list[str] = []
    result = under_load(zl_site.front, "reload after adding client3", lambda load: out.append(reload(zl_site)),
                        lambda: serving(zl_site, ready, clients=3))
    assert "adding zeo-clients:client3 (the other members keep running)" in out[0], out[0]
    assert {n: pid_of(ready, f"zeo-clients:client{n}") for n in (1, 2)} == old
    assert pid_of(ready, "front:haproxy") == master
    assert_nothing_lost(result, explain(zl_site, ready))


def test_kill_9_of_haproxy_loses_nothing(zl_site, ready):
    old = running_pid(ready, "front:haproxy")
    ready.descendants()
    result = under_load(zl_site.front, "kill -9 of haproxy", lambda load: signal_pid(old, signal.SIGKILL),
                        lambda: pid_of(ready, "front:haproxy") not in (0, old) and serving(zl_site, ready))
    ready.descendants()
    assert_nothing_lost(result, explain(zl_site, ready))


def test_kill_9_of_varnishs_cache_process_loses_nothing(zl_site, ready):
    """The connections varnish's cache process held die with it, and its manager refuses new ones until
    the new cache process is up: the edge sends those requests again once varnish listens."""
    manager = pid_of(ready, "front:varnish")
    edge = pid_of(ready, "front:edge")
    children = sorted(descendants(manager))
    assert children, "varnishd's cache process not found"
    ready.seen_pids.update(children)
    result = under_load(zl_site.front, "kill -9 of varnish's cache process",
                        lambda load: signal_pid(children[-1], signal.SIGKILL),
                        lambda: set(descendants(manager)) - set(children) and serving(zl_site, ready))
    ready.descendants()
    assert pid_of(ready, "front:varnish") == manager and pid_of(ready, "front:edge") == edge
    assert_nothing_lost(result, explain(zl_site, ready))
    # the exporter shows the edge's view of varnish next to the balancer's clients
    samples = scrape(zl_site.ports.exporter)
    edge_server = (("backend", "varnish"), ("server", "varnish"))
    # the edge does not health-check varnish (with one server, "down" would mean an immediate 503)
    assert samples.get(("sitestack_haproxy_server_state", (*edge_server, ("state", "NOCHECK")))) == 1, samples
    assert samples[("sitestack_haproxy_server_in_rotation", edge_server)] == 1
    assert samples[("sitestack_haproxy_server_sessions_total", edge_server)] >= result.summary.total
    assert samples.get(("sitestack_haproxy_server_state", (("backend", "clients"), ("server", "client1"),
                                                           ("state", "UP")))) == 1
    print(f"edge retries to varnish so far: {samples[('sitestack_haproxy_server_retries_total', edge_server)]:g}")


def test_concurrent_writers_without_a_fault_get_no_conflict_errors(zl_site, ready):
    result = under_load(zl_site.front, "concurrent writers, no fault", lambda load: load.wait_for(100),
                        lambda: True)
    assert_nothing_lost(result, explain(zl_site, ready))


def test_a_worker_killed_mid_job_loses_nothing_and_no_worker_exits_on_contention(zl_site, ready):
    old = running_pid(ready, "workers:worker_00")
    result = under_load(zl_site.front, "kill -9 of a worker", lambda load: signal_pid(old, signal.SIGKILL),
                        lambda: pid_of(ready, "workers:worker_00") not in (0, old))
    ready.descendants()
    assert_nothing_lost(result, explain(zl_site, ready))
    log = (zl_site.path / "var" / "log" / "supervisord.log").read_text(errors="replace")
    crashes = [line for line in log.splitlines() if "exited: worker" in line and "exit status 1" in line]
    assert not crashes, crashes

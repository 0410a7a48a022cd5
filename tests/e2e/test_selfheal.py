"""Self-healing under load: faults injected into the real stack under the mixed load of
benchmarks/load.py (16 connections of uncached GETs and POSTs of notes, each with a unique id).

Each test asserts zero failed requests, a non-empty fault window, every acknowledged write stored
exactly once, and that the restart really happened (a new PID): (a) kill -9 of a client, (b) a
client hung with SIGSTOP, (c) a client growing past its memory quota, (d) bin/sitestack
rolling-restart (drained through the agent of haproxy's agent-check: haproxy reports the clients
`DRAIN (agent)`, then `MAINT`), (d2) the agent's state file alone takes a client out and back, (e) a restart of the ZEO server (the clients hold requests until it is back),
(f) a hung client whose restart budget is spent (an ALERT, no restart), (g) the last client in rotation
past its quota (its restart waits until another client is back), (h) a client killed while it sends a
response (varnish fetches the cut GET again).
(b) and (e) also assert the README's recovery targets: a hung client out of rotation within 5 s and
serving again within 25 s; after a ZEO restart both clients serving again within 15 s.

The tests share one stack of their own site (test-memory-growth on, a 150MB quota), started once.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.site import GROWTH, clients_serving, pid_of, serving, up  # noqa: F401 - e2e tests import them here
from sitestack.control.agent import StateFile
from sitestack.control.counters import WatchdogStats
from e2e.agentwatch import StatusWatch, moves_through_the_agent
from e2e.conftest import Site, sibling_site
from e2e.site import Stack
from e2e.underload import assert_nothing_lost, failed_lines, running_pid, signal_pid, under_load
from support import http_get, poll_for, tail

pytestmark = pytest.mark.e2e
# The README's targets (section Tests), measured from the fault: a hung client is out of haproxy's
# rotation within 5 s and serving again (new PID, both clients UP) within 25 s; after a restart of
# the ZEO server both clients serve again within 15 s. (Idle machine: 1.3 s, 12-15 s, 1.9 s; see
# BENCHMARKS.md. The margin is for a loaded CI machine: one run took 3.2 s to take a hung client out.)
HUNG_OUT, HUNG_BACK, ZEO_BACK = 5.0, 25.0, 15.0
CLIENTS = ("zeo-clients:client1", "zeo-clients:client2")
WATCHDOG_TICK = 5  # seconds: the watchdog listens to TICK_5


@pytest.fixture(scope="module")
def heal_site(bootstrapped: Path, egg_cache: Path) -> Site:
    return sibling_site(bootstrapped, egg_cache, "selfheal", extra=GROWTH)


@pytest.fixture(scope="module")
def heal_stack(heal_site: Site) -> Iterator[Stack]:
    stack = Stack(heal_site.path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def ready(heal_site: Site, heal_stack: Stack) -> Stack:
    poll_for(lambda: serving(heal_site, heal_stack), 60, "the stack serving with both clients", heal_stack.explain)
    return heal_stack


def seen_answering(stack: Stack, namespec: str) -> None:
    """Wait until the watchdog has checked the process and seen it answer: a successful check of its
    health URL counted in the watchdog's own record (var/metrics/watchdog.json) after this call began,
    so a check of this process. One that hangs before that is still starting to the watchdog, which
    judges it only after its start-timeout (README, "Health checks"). Waiting for an uptime instead
    raced the watchdog: it checks only RUNNING processes (after startsecs), on a TICK_5 that supervisord
    delivers up to a second late, after its memory checks and the other client's check."""
    program = namespec.rpartition(":")[2]

    def answered() -> int:
        return sum(c.run - c.failed for c in WatchdogStats(stack.site).checks.values() if c.program == program)

    before = answered()
    poll_for(lambda: answered() > before, 4 * WATCHDOG_TICK, f"the watchdog seeing {namespec} answer",
             stack.explain)


def replaced(stack: Stack, namespec: str, old: int, timeout: float) -> int:
    def check() -> int:
        pid = pid_of(stack, namespec)
        return pid if pid not in (0, old) else 0

    pid = poll_for(check, timeout, f"{namespec} running with a new PID (old {old})", stack.explain, interval=0.1)
    stack.seen_pids.add(pid)
    return pid


def first_true(check: Callable[[], bool], marks: dict[str, float], name: str) -> Callable[[], bool]:
    """check, noting in marks[name] when (time.monotonic()) it first held."""
    def noted() -> bool:
        held = bool(check())
        if held:
            marks.setdefault(name, time.monotonic())
        return held
    return noted


def explain(site: Site, stack: Stack):
    return lambda: failed_lines(site.path / "var" / "log" / "haproxy.log") + "\n" + stack.explain() + \
        "\n" + tail(site.path / "var" / "log" / "watchdog.log", 20)


def test_a_kill_9_of_a_client_loses_no_request(heal_site, ready):
    old = running_pid(ready, CLIENTS[0])
    result = under_load(heal_site.front, "kill -9 of a client", lambda load: signal_pid(old, signal.SIGKILL),
                        lambda: pid_of(ready, CLIENTS[0]) not in (0, old) and serving(heal_site, ready))
    ready.seen_pids.add(pid_of(ready, CLIENTS[0]))
    assert_nothing_lost(result, explain(heal_site, ready))


def test_b_a_hung_client_is_restarted_and_loses_no_request(heal_site, ready):
    """The requests the hung client held are replayed on the other client after haproxy's `timeout
    server` (10 s), POSTs too (they carry an Idempotency-Key). Before the ZEO server dropped a client
    that stopped while it held the commit lock (`transaction-timeout`), every writer could wait behind
    it past `timeout server` and get haproxy's 503 (seen in 1 run of 4); no request failed in 26 runs
    each of this test and test_f since (README, "Zero lost requests")."""
    old = running_pid(ready, CLIENTS[1])
    seen_answering(ready, CLIENTS[1])
    marks: dict[str, float] = {}

    def hang(load) -> None:
        signal_pid(old, signal.SIGSTOP)
        marks["fault"] = time.monotonic()
        poll_for(first_true(lambda: not up(heal_site, "client2"), marks, "out"), 60, "client2 out of rotation",
                 interval=0.1)

    try:
        result = under_load(heal_site.front, "SIGSTOP of a client", hang,
                            first_true(lambda: pid_of(ready, CLIENTS[1]) not in (0, old) and serving(heal_site, ready),
                                       marks, "back"),
                            explain=explain(heal_site, ready))
    finally:
        try:
            os.kill(old, signal.SIGCONT)
        except ProcessLookupError:
            pass
    ready.seen_pids.add(pid_of(ready, CLIENTS[1]))
    assert_nothing_lost(result, explain(heal_site, ready))
    # the watchdog's restart ends once haproxy has the client UP with its slow start over
    poll_for(lambda: "restarted (health" in (heal_site.path / "var" / "log" / "watchdog.log").read_text(), 30,
             "the watchdog's restart to finish", ready.explain)
    out, back = marks["out"] - marks["fault"], marks["back"] - marks["fault"]
    print(f"hung client: out of rotation after {out:.1f}s, serving again after {back:.1f}s")
    assert out <= HUNG_OUT, f"out of rotation after {out:.1f}s, target {HUNG_OUT}s"
    assert back <= HUNG_BACK, f"serving again after {back:.1f}s, target {HUNG_BACK}s"


def test_c_a_client_past_its_memory_quota_is_restarted_without_losing_a_request(heal_site, ready):
    old = pid_of(ready, CLIENTS[0])

    def grow(load) -> None:
        status, body, _ = http_get(f"http://127.0.0.1:{heal_site.ports.client(1)}/_test/grow?mb=160", timeout=30)
        assert status == 200, body

    result = under_load(heal_site.front, "memory quota", grow,
                        lambda: pid_of(ready, CLIENTS[0]) not in (0, old) and serving(heal_site, ready))
    ready.seen_pids.add(pid_of(ready, CLIENTS[0]))
    assert_nothing_lost(result, explain(heal_site, ready))
    # the watchdog's restart ends once haproxy has the client UP with its slow start over
    poll_for(lambda: "restarted (memory" in (heal_site.path / "var" / "log" / "watchdog.log").read_text(), 30,
             "the watchdog's restart to finish", ready.explain)


def test_d_rolling_restart_loses_no_request(heal_site, ready):
    old = {name: pid_of(ready, name) for name in CLIENTS}
    runs: list[subprocess.CompletedProcess[str]] = []
    with StatusWatch(heal_site.path) as watch:
        result = under_load(heal_site.front, "rolling restart", lambda load: runs.append(subprocess.run(
            [str(heal_site.path / "bin" / "sitestack"), "rolling-restart"], capture_output=True, text=True,
            timeout=120)), lambda: serving(heal_site, ready))
    assert runs[0].returncode == 0, runs[0].stdout + runs[0].stderr
    # drained through the agent (haproxy says "DRAIN (agent)"; a drain through its socket says "DRAIN")
    for name in ("client1", "client2"):
        assert {"DRAIN (agent)", "MAINT"} <= watch.seen.get(name, set()), (name, watch.seen)
    assert StateFile(heal_site.path / "var" / "agent" / "state.json").read() == {"client1": "ready", "client2": "ready"}
    assert "[1/2] zeo-clients:client1: out of rotation" in runs[0].stdout, runs[0].stdout
    assert "[2/2] zeo-clients:client2: back in rotation" in runs[0].stdout, runs[0].stdout
    new = {name: pid_of(ready, name) for name in CLIENTS}
    assert all(new[name] not in (0, old[name]) for name in CLIENTS), (old, new)
    ready.seen_pids.update(new.values())
    assert_nothing_lost(result, explain(heal_site, ready))


def test_d2_the_agents_answer_alone_moves_a_client_in_haproxy(heal_site, ready):
    moves_through_the_agent(heal_site.path, heal_site.ports.agent, "client2", "client1", ready.explain)


def test_e_a_zeo_server_restart_loses_no_request(heal_site, ready):
    """The clients hold requests while the ZEO server is away (a bounded wait), then carry on."""
    rpc = ready.rpc()
    old = pid_of(ready, "zeo-cluster:zeoserver")

    marks: dict[str, float] = {}

    def restart(load) -> None:
        marks["fault"] = time.monotonic()
        rpc.supervisor.stopProcess("zeo-cluster:zeoserver")
        rpc.supervisor.startProcess("zeo-cluster:zeoserver")

    clients_back = first_true(lambda: clients_serving(heal_site), marks, "back")
    result = under_load(heal_site.front, "ZEO server restart", restart, lambda: clients_back() and pid_of(
        ready, "zeo-cluster:zeoserver") not in (0, old) and serving(heal_site, ready))
    ready.seen_pids.add(pid_of(ready, "zeo-cluster:zeoserver"))
    assert_nothing_lost(result, explain(heal_site, ready))
    back = marks["back"] - marks["fault"]
    print(f"ZEO server restart: both clients serving again after {back:.1f}s")
    assert back <= ZEO_BACK, f"both clients serving again after {back:.1f}s, target {ZEO_BACK}s"


def test_f_the_restart_budget_spent_raises_an_alert_and_restarts_nothing(heal_site, ready):
    """Six automatic restarts of client2 in the last hour (var/restarts.json, the budget's own record):
    a hung client2 is not restarted a seventh time; the watchdog raises an ALERT, haproxy keeps it out,
    and the site serves from client1; no acknowledged write is lost. The requests the hung client held
    when it stopped are replayed on client1 after haproxy's `timeout server`: none fails."""
    log = heal_site.path / "var" / "restarts.json"
    saved = log.read_text() if log.exists() else None
    record = json.loads(saved) if saved else {}
    record[CLIENTS[1]] = [time.time() - 60 * n for n in range(1, 7)]
    log.write_text(json.dumps(record))
    watchdog_log = heal_site.path / "var" / "log" / "watchdog.log"
    seen = len(watchdog_log.read_text())
    old = running_pid(ready, CLIENTS[1])
    seen_answering(ready, CLIENTS[1])

    def hang(load) -> None:
        signal_pid(old, signal.SIGSTOP)
        poll_for(lambda: f"ALERT {CLIENTS[1]}: over-budget" in watchdog_log.read_text()[seen:], 60,
                 "the watchdog's over-budget ALERT", lambda: watchdog_log.read_text()[seen:][-2000:], interval=0.2)
        assert pid_of(ready, CLIENTS[1]) == old, "client2 was restarted although its budget is spent"
        os.kill(old, signal.SIGCONT)

    try:
        result = under_load(heal_site.front, "hung client, budget spent", hang,
                            lambda: serving(heal_site, ready))
    finally:
        os.kill(old, signal.SIGCONT)
        log.write_text(saved) if saved is not None else log.unlink(missing_ok=True)
    assert pid_of(ready, CLIENTS[1]) == old
    assert_nothing_lost(result, explain(heal_site, ready))


def test_g_the_last_client_in_rotation_is_never_taken_out(heal_site, ready):
    """client1 stopped by the operator; client2 past its memory quota is the last client in rotation:
    the watchdog defers its restart (nothing fails meanwhile) and restarts it once client1 is back."""
    rpc = ready.rpc()
    watchdog_log = heal_site.path / "var" / "log" / "watchdog.log"
    seen = len(watchdog_log.read_text())
    old = running_pid(ready, CLIENTS[1])

    def fault(load) -> None:
        rpc.supervisor.stopProcess(CLIENTS[0])
        poll_for(lambda: not up(heal_site, "client1"), 30, "client1 out of haproxy's rotation", interval=0.2)
        status, body, _ = http_get(f"http://127.0.0.1:{heal_site.ports.client(2)}/_test/grow?mb=160", timeout=30)
        assert status == 200, body
        poll_for(lambda: "client2 is the last client in rotation" in watchdog_log.read_text()[seen:], 60,
                 "the watchdog deferring client2's restart", lambda: watchdog_log.read_text()[seen:][-2000:],
                 interval=0.2)
        assert pid_of(ready, CLIENTS[1]) == old, "the last client in rotation was restarted"
        assert up(heal_site, "client2")
        rpc.supervisor.startProcess(CLIENTS[0])

    try:
        result = under_load(heal_site.front, "last client in rotation", fault,
                            lambda: pid_of(ready, CLIENTS[1]) not in (0, old) and serving(heal_site, ready))
    finally:
        if rpc.supervisor.getProcessInfo(CLIENTS[0])["statename"] != "RUNNING":
            rpc.supervisor.startProcess(CLIENTS[0])
    ready.seen_pids.update(pid_of(ready, name) for name in CLIENTS)
    assert_nothing_lost(result, explain(heal_site, ready))
    poll_for(lambda: "restarted (memory" in watchdog_log.read_text()[seen:], 30, "the watchdog's restart to finish",
             ready.explain)


def test_h_a_get_cut_mid_response_by_a_dying_client_is_fetched_again(heal_site, ready):
    """A slow GET (demoapp's test page /_test/slow, 320KB in 2 s) is on its way from client1 when
    client1 is killed: haproxy can only cut the response short (SD in its log), and varnish, which
    keeps the whole response before it sends a byte (do_stream = false), fetches it again (from client2,
    or from client1's successor if it is back first). The user gets the whole page; the mixed load
    meanwhile loses nothing."""
    from sitestack.control.restart import RuntimeSocket

    runtime = RuntimeSocket(str(heal_site.path / "var" / "haproxy" / "admin.sock"), "clients")
    log = heal_site.path / "var" / "log" / "haproxy.log"
    seen = len(log.read_bytes())
    old = running_pid(ready, CLIENTS[0])
    answers: list[tuple[int, str]] = []

    def cut(load) -> None:
        runtime.set("client2", "state maint")  # so the slow page is served by client1
        try:
            fetch = threading.Thread(target=lambda: answers.append(
                http_get(f"{heal_site.front}/_test/slow", timeout=30)[:2]))
            fetch.start()
            # a few of its ten pieces (0.2 s apart) are on their way; had the kill come first, haproxy
            # would replay the GET itself and the log assertion below fails
            time.sleep(0.8)
        finally:
            runtime.set("client2", "state ready")
        signal_pid(old, signal.SIGKILL)
        fetch.join(40)
        assert not fetch.is_alive(), "the slow GET did not end"

    result = under_load(heal_site.front, "kill -9 of a client mid-response", cut,
                        lambda: pid_of(ready, CLIENTS[0]) not in (0, old) and serving(heal_site, ready))
    ready.seen_pids.add(pid_of(ready, CLIENTS[0]))
    assert_nothing_lost(result, explain(heal_site, ready))
    status, body = answers[0]
    assert status == 200 and len(body) == 10 * 32 * 1024 + len("\nserved by client2\n"), (status, len(body))
    # fetched again from client2, or from client1's successor when supervisord had it back in rotation
    # first (a kill -9 is back in well under a second): which one is haproxy's choice
    served_by = body.rsplit("served by ", 1)[-1].strip()
    assert served_by in ("client1", "client2"), body[-40:]
    # the killed client1 cut its answer (SD): the whole page the user got is the fetch varnish made again
    cut_lines = [line for line in log.read_bytes()[seen:].decode(errors="replace").splitlines()
                 if "/_test/slow" in line and "clients/client1" in line]
    assert cut_lines and " SD" in cut_lines[0], cut_lines or "no log line of the slow GET from client1"

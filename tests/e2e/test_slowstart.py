"""Slow start-up: clients that answer only DELAY s after binding their port (as Plone loads its configuration).

(a) a rolling restart under load waits for each client to answer, loses no request, and the
watchdog restarts nothing meanwhile; (b) a client that never answers stops the rolling restart
with a clear message after its part's start-timeout, and the other client keeps serving.
"""
from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import Site, sibling_site
from e2e.site import Stack
from e2e.readload import Load, failures, pages, settle
from e2e.test_selfheal import CLIENTS, pid_of, serving
from support import poll_for

pytestmark = pytest.mark.e2e
DELAY = 15  # the case: a start-up 15 s longer than bare Zope (Plone loading its configuration)
START_TIMEOUT = 30
SLOW = f"[clients]\ntest-start-delay = {DELAY}\nstart-timeout = {START_TIMEOUT}\n"


@pytest.fixture(scope="module")
def slow_site(bootstrapped: Path, egg_cache: Path) -> Site:
    """A site next to the shared one whose clients start slowly, built with the same bin/buildout."""
    return sibling_site(bootstrapped, egg_cache, "slowstart", extra=SLOW)


@pytest.fixture(scope="module")
def slow_stack(slow_site: Site) -> Iterator[Stack]:
    stack = Stack(slow_site.path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def ready(slow_site: Site, slow_stack: Stack) -> Stack:
    poll_for(lambda: serving(slow_site, slow_stack), 90, "the stack serving with both clients", slow_stack.explain)
    return slow_stack


def watchdog_actions(site: Site) -> list[str]:
    """The watchdog's restarts (each one drains first) as its log says them."""
    log = site.path / "var" / "log" / "watchdog.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if "draining in haproxy" in line or ": restarted (" in line]


def rolling_restart(site: Site) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(site.path / "bin" / "sitestack"), "rolling-restart"],
                          capture_output=True, text=True, timeout=180)


def test_a_rolling_restart_waits_for_slow_clients_and_loses_no_request(slow_site, ready):
    before = watchdog_actions(slow_site)
    old = {name: pid_of(ready, name) for name in CLIENTS}
    with Load(pages(slow_site)) as load:
        time.sleep(1)
        result = rolling_restart(slow_site)
        settle(slow_site, ready)
    print(f"\nslow rolling restart: {load.report()}\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr
    for number, name in enumerate(CLIENTS, 1):
        waited = re.search(rf"\[{number}/2\] {name}: answering after (\d+\.\d)s", result.stdout)
        assert waited and float(waited.group(1)) >= DELAY, result.stdout  # RUNNING was not taken for ready
        assert f"[{number}/2] {name}: warm-up / answered 200" in result.stdout, result.stdout
    new = {name: pid_of(ready, name) for name in CLIENTS}
    assert all(new[name] not in (0, old[name]) for name in CLIENTS), (old, new)
    ready.seen_pids.update(new.values())
    assert len(load.results) > 50 and not load.failed, failures(slow_site, load)
    assert watchdog_actions(slow_site) == before, watchdog_actions(slow_site)


def test_b_a_client_that_never_answers_stops_the_rolling_restart_and_the_other_keeps_serving(slow_site, ready):
    script = slow_site.path / "bin" / "client1"
    text = script.read_text()
    assert f"'--start-delay', '{DELAY}'" in text
    other = pid_of(ready, CLIENTS[1])
    script.write_text(text.replace(f"'--start-delay', '{DELAY}'", "'--start-delay', '3600'"))
    try:
        with Load(pages(slow_site)) as load:
            result = rolling_restart(slow_site)
    finally:
        script.write_text(text)
    print(f"\nrolling restart of a client that never answers: {load.report()}\n{result.stdout}")
    assert result.returncode == 1, result.stdout + result.stderr
    url = f"http://127.0.0.1:{slow_site.ports.client(1)}/health"
    assert (f"[1/2] {CLIENTS[0]}: failed (rolling restart) pid" in result.stdout
            and f"{CLIENTS[0]} did not answer {url} within {START_TIMEOUT}s (its part's start-timeout)"
            in result.stdout), result.stdout
    assert f"rolling-restart: stopped at {CLIENTS[0]}; the clients after it were not restarted" in result.stdout
    assert pid_of(ready, CLIENTS[1]) == other  # never drained, never restarted
    assert len(load.results) > 50 and not load.failed, failures(slow_site, load)

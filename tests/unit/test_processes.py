"""sitestack.control.processes: the process and socket questions, asked of real processes this test starts."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sitestack.control import processes
from support import kill_pids, poll_for

# a parent that starts a child holding 20 MB, then both sleep
TREE = ("import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'x = bytearray(20 * 2**20); import time; time.sleep(60)']); "
        "print(child.pid, flush=True); time.sleep(60)")


@pytest.fixture
def tree() -> Iterator[tuple[int, int]]:
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        yield parent.pid, child
    finally:
        kill_pids([child, parent.pid])
        parent.wait(10)


def test_a_process_tree_its_memory_and_ancestry(tree: tuple[int, int]) -> None:
    parent, child = tree
    assert processes.descendants(parent) == [child]
    assert processes.parent(child) == parent and processes.parent(parent) == os.getpid()
    assert {child, parent, os.getpid()} <= processes.ancestors(child)
    sizes = poll_for(lambda: (s := processes.tree_rss([parent])) and s[parent] > 20 * 2**20 and s, 10,
                     "the child's 20 MB counted in its parent's tree")
    own = processes.rss(parent) or 0
    assert own < sizes[parent] and processes.tree_rss([parent], cumulative=False) == {parent: pytest.approx(own, rel=0.5)}
    assert "sleep(60)" in processes.cmdline(parent) and processes.cmdline(2**22 + 7) == ""
    started = processes.started_at(parent)
    assert started is not None and abs(started - time.time()) < 60


def test_stopped_living_and_gone(tree: tuple[int, int]) -> None:
    parent, child = tree
    assert not processes.stopped(child)
    os.kill(child, signal.SIGSTOP)
    try:
        poll_for(lambda: processes.stopped(child), 10, "the child stopped (state T)")
    finally:
        os.kill(child, signal.SIGCONT)
    os.kill(child, signal.SIGKILL)
    # the parent does not reap it: a zombie exists (alive) but has exited (not living)
    poll_for(lambda: processes.state(child) == "zombie", 10, "the child a zombie")
    assert processes.alive(child) and not processes.living(child) and processes.living(parent)
    gone = 2**22 + 7
    assert not processes.alive(gone) and not processes.living(gone) and processes.started_at(gone) is None
    assert processes.tree_rss([gone]) == {} and processes.uids(gone) is None and not processes.stopped(gone)


def test_who_listens_on_a_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert os.getpid() in processes.listening_pids(port)
        assert ("127.0.0.1", port) in processes.listening_addresses(os.getpid())
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                assert processes.established_on(os.getpid(), port) == 1
                assert client.getsockname()[1] not in {p for _, p in processes.listening_addresses(os.getpid())}
    assert os.getpid() not in processes.listening_pids(port)
    assert processes.uids(os.getpid()) == (os.getuid(), os.geteuid())


def test_a_start_time_is_exact_to_the_clock_tick() -> None:
    """Linux gives the boot time in whole seconds: psutil's create_time alone can be up to 1 s early,
    and a process started right after bin/buildout recorded its digests would seem older than them."""
    for _ in range(5):
        before = time.time()
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        try:
            started = processes.started_at(child.pid)
        finally:
            child.kill()
            child.wait()
        after = time.time()
        assert started is not None and before - 0.02 <= started <= after + 0.02, (before, started, after)

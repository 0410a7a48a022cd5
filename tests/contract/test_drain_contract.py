"""sitestack.control.drain's HaproxyDrain against a real haproxy: each step of the Drain interface does what it says."""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from front_stack import Backend, request, start
from support import free_port, kill_pids, poll_for, tail

from sitestack.control.drain import DrainError, HaproxyDrain
from sitestack.control.haproxy_runtime import RuntimeSocket
from sitestack.control.restart import refusal

CONFIG = """global
    stats socket {socket} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend site
    bind 127.0.0.1:{port}
    default_backend clients
backend clients
    balance leastconn
    option httpchk GET /health
    default-server check inter 200ms fall 2 rise 1 slowstart 1s
{servers}
"""


@pytest.fixture
def front() -> Iterator[tuple[HaproxyDrain, int, Path, list[Backend]]]:
    directory = Path(tempfile.mkdtemp(prefix="sitestack-drain-"))
    backends = [Backend("client1"), Backend("client2")]
    port = free_port()
    socket = directory / "admin.sock"
    servers = "\n".join(f"    server {b.name} {b.address}" for b in backends)
    (directory / "haproxy.cfg").write_text(CONFIG.format(socket=socket, port=port, servers=servers))
    log = directory / "haproxy.log"
    pids: list[int] = []
    try:
        for backend in backends:
            backend.start()
        pids.append(start(f"haproxy -db -f {directory / 'haproxy.cfg'}", log).pid)
        drain = HaproxyDrain(RuntimeSocket(str(socket), "clients"))
        poll_for(lambda: socket.exists() and {s.status for s in drain.states().values()} == {"UP"}, 10,
                 "both clients UP", functools.partial(tail, log))
        yield drain, port, log, backends
    finally:
        kill_pids(pids)
        for backend in backends:
            backend.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_drain_maint_and_ready_in_haproxy(front: tuple[HaproxyDrain, int, Path, list[Backend]]) -> None:
    drain, port, log, backends = front
    assert refusal(drain.states(), "client1", 1) is None
    drain.drain("client1")
    assert drain.states()["client1"].status == "DRAIN"
    assert refusal(drain.states(), "client2", 1) == "client2 is the last client in rotation"
    assert {request("127.0.0.1", port, "GET", f"/p{i}")[1]["X-Backend"] for i in range(4)} == {"client2"}
    drain.wait_idle("client1", 5.0)  # nothing in flight: returns at once
    assert drain.states()["client1"].sessions == 0
    drain.maint("client1")
    assert drain.states()["client1"].status == "MAINT"

    # back, not answering: DOWN until haproxy's own check passes; then UP with its slow start over
    backends[0].stop()
    drain.ready("client1", answering=False)
    seen = drain.wait_ready("client1", 1.0)
    assert seen is not None and seen.startswith("DOWN"), seen
    backends[0].start()
    assert drain.wait_ready("client1", 10.0) is None, tail(log)
    assert drain.states()["client1"].status == "UP"

    # back, answering: UP at once, throttled by its slow start until wait_ready sees it over
    drain.maint("client1")
    drain.ready("client1", answering=True)
    state = drain.states()["client1"]
    assert state.status.startswith("UP") and state.throttle is not None and state.throttle < 100
    seen = drain.wait_ready("client1", 0.3)
    assert seen is not None and seen.startswith("UP, throttle ")
    assert drain.wait_ready("client1", 10.0) is None


def test_a_refusal_is_a_drain_error(front: tuple[HaproxyDrain, int, Path, list[Backend]]) -> None:
    drain = front[0]
    with pytest.raises(DrainError, match="haproxy refused 'set server clients/client9 state drain'"):
        drain.drain("client9")
    assert drain.wait_ready("client9", 1.0) is None  # not one of its servers: nothing to wait for

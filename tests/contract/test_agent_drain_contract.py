"""sitestack.control.agent_drain's AgentDrain against a real haproxy asking a real agent (agent-check): each step
of the Drain interface moves the server in haproxy, on an app host (no admin socket) and on one host."""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from front_stack import Backend, request, start
from support import free_port, kill_pids, poll_for, tail

from sitestack.control.agent import Agent, Server, StateFile
from sitestack.control.agent_drain import AgentDrain, AgentInfo
from sitestack.control.haproxy_runtime import RuntimeSocket
from sitestack.recipes.address import Address

CONFIG = """global
    stats socket {socket} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
frontend site
    bind 127.0.0.1:{port}
    default_backend clients
backend clients
    balance leastconn
    option httpchk GET /health
    default-server check inter 200ms fall 2 rise 1 slowstart 1s
{servers}
"""


@dataclass
class Front:
    info: AgentInfo
    runtime: RuntimeSocket
    port: int
    log: Path
    backends: list[Backend]


@pytest.fixture
def front() -> Iterator[Front]:
    directory = Path(tempfile.mkdtemp(prefix="sitestack-agent-"))
    backends = [Backend("client1"), Backend("client2")]
    port, agent_port = free_port(), free_port()
    socket = directory / "admin.sock"
    servers = "\n".join(f"    server {b.name} {b.address} agent-check agent-port {agent_port} agent-inter 200ms "
                        f'agent-send "{b.name}\\n"' for b in backends)
    (directory / "haproxy.cfg").write_text(CONFIG.format(socket=socket, port=port, servers=servers))
    log = directory / "haproxy.log"
    info = AgentInfo(Address("127.0.0.1", agent_port), directory / "state.json", ("client1", "client2"), inter=0.2)
    agent = Server(("127.0.0.1", agent_port), Agent(StateFile(info.state), info.clients, ["127.0.0.1"]))
    thread = threading.Thread(target=agent.serve_forever, name="agent", daemon=True)
    pids: list[int] = []
    try:
        thread.start()
        for backend in backends:
            backend.start()
        pids.append(start(f"haproxy -db -f {directory / 'haproxy.cfg'}", log).pid)
        runtime = RuntimeSocket(str(socket), "clients")
        poll_for(lambda: socket.exists() and {s.status for s in runtime.servers().values()} == {"UP"}, 10,
                 "both clients UP", functools.partial(tail, log))
        yield Front(info, runtime, port, log, backends)
    finally:
        kill_pids(pids)
        for backend in backends:
            backend.stop()
        agent.shutdown()
        agent.server_close()
        thread.join(5)
        shutil.rmtree(directory, ignore_errors=True)


def test_on_an_app_host_the_agent_alone_drains_and_restores(front: Front) -> None:
    drain = AgentDrain(front.info, {}, status=None, slowstart=1.0)  # no admin socket on an app host
    drain.drain("client1")  # returns once haproxy has asked the agent since
    assert poll_for(lambda: front.runtime.servers()["client1"].status == "DRAIN (agent)", 0.5, "DRAIN (agent)")
    assert {request("127.0.0.1", front.port, "GET", f"/p{i}")[1]["X-Backend"] for i in range(4)} == {"client2"}
    assert drain.states()["client1"].status == "DRAIN"
    drain.wait_idle("client1", 5.0)
    drain.maint("client1")
    assert poll_for(lambda: front.runtime.servers()["client1"].status == "MAINT", 0.5, "MAINT")
    drain.ready("client1", answering=True)
    assert poll_for(lambda: front.runtime.servers()["client1"].status.startswith("UP"), 0.5, "UP")
    # without haproxy's socket the slow start is waited out on this host's clock
    seen = drain.wait_ready("client1", 0.2)
    assert seen is not None and seen.startswith("UP, throttle "), seen
    assert drain.wait_ready("client1", 3.0) is None
    assert StateFile(front.info.state).read() == {"client1": "ready"}


def test_on_one_host_haproxys_socket_reports_and_the_agent_drains(front: Front) -> None:
    drain = AgentDrain(front.info, {}, status=front.runtime)
    drain.drain("client2")
    assert poll_for(lambda: drain.states()["client2"].status == "DRAIN (agent)", 0.5, "DRAIN (agent)")
    drain.maint("client2")
    assert poll_for(lambda: drain.states()["client2"].status == "MAINT", 0.5, "MAINT")
    front.backends[1].stop()
    drain.ready("client2", answering=False)  # haproxy's own check keeps a client that does not answer out
    time.sleep(1.0)
    assert drain.states()["client2"].status.startswith("DOWN"), tail(front.log)
    front.backends[1].start()
    assert drain.wait_ready("client2", 10.0) is None, tail(front.log)

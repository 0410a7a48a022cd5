"""The agent (sitestack.control.agent) and the restart routine's side of it (sitestack.control.agent_drain), on real sockets."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port

from sitestack.appserver.wsgi import IN_FLIGHT_HEADER, ClientMiddleware
from sitestack.control.agent import Agent, Server, StateFile, ask
from sitestack.control.agent_drain import AgentDrain, AgentInfo
from sitestack.recipes.address import Address


def test_the_state_file_is_ready_until_told_otherwise(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "agent" / "state.json")
    assert state.state("client1") == "ready"
    state.set("client1", "drain")
    state.set("client2", "maint")
    assert state.read() == {"client1": "drain", "client2": "maint"}
    assert [p.name for p in (tmp_path / "agent").iterdir()] == ["state.json"]  # written by rename, no leftovers
    with pytest.raises(ValueError):
        state.set("client1", "down")


def test_only_the_fronts_questions_count_as_seen(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state.json")
    agent = Agent(state, ["client1", "client2"], ["10.77.0.4"])
    state.set("client2", "drain")
    assert agent.answer("client2\n", "10.77.0.9") == "drain"
    assert agent.answer("seen client2", "10.77.0.9") == "none 0.000"
    before = time.time()
    assert agent.answer("client2\n", "10.77.0.4") == "drain"
    seen, when = agent.answer("seen client2", "127.0.0.1").split()
    assert seen == "drain" and float(when) >= before - 0.001  # the agent answers in milliseconds
    # nothing else is answered: unknown clients, other words, a request to change a state
    assert [agent.answer(line, "10.77.0.4") for line in ("client3", "set client1 maint", "", "ready")] == [""] * 4


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[AgentInfo, StateFile]]:
    port = free_port()
    state = StateFile(tmp_path / "state.json")
    server = Server(("127.0.0.1", port), Agent(state, ["client1"], ["127.0.0.1"]))
    thread = threading.Thread(target=server.serve_forever, name="agent", daemon=True)
    thread.start()
    try:
        yield AgentInfo(Address("127.0.0.1", port), state.path, ("client1",), inter=0.2), state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_setting_a_state_waits_until_the_front_has_asked(agent: tuple[AgentInfo, StateFile]) -> None:
    info, state = agent
    address = (info.address.host, info.address.port)
    stop = threading.Event()

    def front() -> None:  # haproxy asking every agent-inter
        while not stop.wait(info.inter):
            ask(address, "client1")

    asker = threading.Thread(target=front, name="front", daemon=True)
    asker.start()
    try:
        drain = AgentDrain(info, {})
        started = time.monotonic()
        drain.drain("client1")
        assert state.state("client1") == "drain"
        assert time.monotonic() - started < 3 * info.inter + 1.0
        assert ask(address, "seen client1").split()[0] == "drain"
    finally:
        stop.set()
        asker.join(5)


def test_without_a_front_asking_the_wait_is_bounded_and_said(agent: tuple[AgentInfo, StateFile]) -> None:
    info, state = agent
    said: list[str] = []
    drain = AgentDrain(info, {}, progress=said.append)
    started = time.monotonic()
    assert drain.wait_seen("client1", "maint", time.time()) is False
    assert 3 * info.inter + 1.0 <= time.monotonic() - started < 3 * info.inter + 3.0
    assert said == ["client1: haproxy has not asked the agent within 2s (state maint set; going on)"]


class Healthy:
    def problem(self) -> None:
        return None


def test_the_health_answer_counts_the_clients_own_requests() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"page"]

    middleware = ClientMiddleware(app, None, "client1", "/health", Healthy())  # type: ignore[arg-type]
    headers: dict[str, str] = {}

    def health() -> str:
        middleware({"PATH_INFO": "/health", "REQUEST_METHOD": "GET"}, lambda s, h: headers.update(h))
        return headers[IN_FLIGHT_HEADER]

    body = middleware({"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda s, h: None)
    assert health() == "1"  # the page is being served; the health check itself does not count
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]
    assert health() == "0"

"""Draining through this host's agent (control.agent): the balancer side of the restart routine.

`AgentBalancer` sets a client's state in var/agent/state.json and waits until the front's haproxy
has asked the agent since (`seen`), so `drain` means haproxy sends the client nothing new. A
client's own in-flight requests are read from its health answer (X-In-Flight, counted by
appserver.wsgi); a client of another kind (a Zope instance) falls back to haproxy's session count
where the admin socket is on this host, else to the established connections on its port (psutil).
Where haproxy runs on this host (the one-host stack), its admin socket (loopback, read-only use)
says whether a client is UP and done with its slow start; on an app host without haproxy, the
state comes from the agent's file and the client's health URL, and the slow start is waited out.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from control.agent import READY, StateFile, ask, parse_listen

IN_FLIGHT_HEADER = "X-In-Flight"


class Status(Protocol):
    """What reports haproxy's view of servers (control.restart.RuntimeSocket)."""

    def servers(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AgentInfo:
    """site.json's extra.agent, written by the supervisor part from the agent part."""

    address: str
    state: Path
    clients: tuple[str, ...]
    inter: float = 1.0

    @classmethod
    def from_site(cls, data: dict[str, Any]) -> "AgentInfo":
        return cls(data["address"], Path(data["state"]), tuple(data["clients"]), float(data.get("inter", 1.0)))


def in_flight(health_url: str, timeout: float = 2.0) -> int | None:
    """The client's own in-flight requests from its health answer; None when it does not say."""
    try:
        with urllib.request.urlopen(health_url, timeout=timeout) as response:
            value = response.headers.get(IN_FLIGHT_HEADER)
    except urllib.error.HTTPError as error:
        value = error.headers.get(IN_FLIGHT_HEADER)
    except (OSError, ValueError):
        return None
    return int(value) if value and value.isdigit() else None


def established(address: str) -> int:
    """TCP connections established to a listening address (host:port) on this host."""
    import psutil  # bin/sitestack's and the watchdog's eggs include it (the supervisor part)

    host, port = parse_listen(address)
    return sum(1 for c in psutil.net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
               and c.laddr.ip in (host, "::ffff:" + host))


class AgentBalancer:
    """The restart routine's balancer (servers(), set()) through the agent instead of haproxy's socket."""

    def __init__(self, agent: AgentInfo, programs: dict[str, tuple[str, str]], status: Status | None = None,
                 slowstart: float = 5.0, progress: Callable[[str], None] = lambda message: None) -> None:
        self.agent, self.status, self.slowstart, self.progress = agent, status, slowstart, progress
        self.programs = programs  # client -> (health URL, address)
        self.file = StateFile(agent.state)
        self.ready_since: dict[str, float] = {}

    def names(self) -> tuple[str, ...]:
        return self.agent.clients

    # ---- what the restart routine reads -------------------------------------------------------
    def servers(self) -> dict[str, Any]:
        from control.restart import ServerState

        seen = self.status.servers() if self.status is not None else {}
        states = self.file.read()
        result = {}
        for name in self.agent.clients:
            url, address = self.programs.get(name, ("", ""))
            sessions = in_flight(url) if url else None
            if name in seen:
                haproxy = seen[name]
                result[name] = ServerState(name, haproxy.status, haproxy.sessions if sessions is None else sessions,
                                           haproxy.throttle, haproxy.last_change)
                continue
            if sessions is None:
                sessions = established(address) if address else 0
            state = states.get(name, READY)
            status = state.upper() if state != READY else "UP" if not url or _answers(url) else "DOWN"
            result[name] = ServerState(name, status, sessions, self.throttle(name))
        return result

    def throttle(self, name: str) -> int | None:
        since = self.ready_since.get(name)
        if since is None:
            return None
        return min(100, int(100 * (time.monotonic() - since) / self.slowstart)) if self.slowstart else None

    # ---- what the restart routine changes -----------------------------------------------------
    def set(self, server: str, what: str) -> None:
        """haproxy's `set server` words, done through the agent: `state drain|maint|ready`;
        `health up|down` is left to haproxy's own check (the agent never forces a check result)."""
        verb, _, state = what.partition(" ")
        if verb != "state":
            return
        since = time.time()
        self.file.set(server, state)
        self.wait_seen(server, state, since)
        if state == READY and self.status is None:
            self.ready_since[server] = time.monotonic()

    def wait_seen(self, server: str, state: str, since: float) -> bool:
        """Until haproxy has asked the agent since the state was set (bounded: 3 agent intervals + 1s)."""
        deadline = time.monotonic() + 3 * self.agent.inter + 1.0
        while time.monotonic() < deadline:
            try:
                words = ask(parse_listen(self.agent.address), f"seen {server}").split()
            except OSError:
                words = []
            if len(words) == 2 and words[0] == state and float(words[1]) >= since:
                return True
            time.sleep(0.05)
        self.progress(f"{server}: haproxy has not asked the agent within {3 * self.agent.inter + 1:.0f}s "
                      f"(state {state} set; going on)")
        return False


def agent_balancer(site: Any, status: Status | None, progress: Callable[[str], None]) -> AgentBalancer | None:
    """The site's agent as the restart routine's balancer, or None for a site without an agent part."""
    data = site.extra.get("agent")
    if not data:
        return None
    agent = AgentInfo.from_site(data)
    programs = {}
    for name in agent.clients:
        try:
            program = site.program(name)
        except KeyError:
            continue
        programs[name] = (program.health_url, program.address)
    return AgentBalancer(agent, programs, status, progress=progress)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return int(response.status) == 200
    except (OSError, ValueError):
        return False

"""`Drain` through this host's agent (sitestack.control.agent): haproxy's agent-check, whatever the topology.

`AgentDrain` sets a client's state in var/agent/state.json and waits until the front's haproxy has
asked the agent since (`seen`), so after `drain` haproxy sends the client nothing new. A client's
own in-flight requests are read from its health answer (X-In-Flight, counted by sitestack.appserver.wsgi); a
client of another kind (a Zope instance) falls back to haproxy's session count where the admin socket
is on this host, else to the established connections to its port (sitestack.control.processes, psutil).
Where haproxy runs on this host (the one-host stack), its admin socket (loopback; only read) says
whether a client is UP and done with its slow start; on an app host without haproxy, the state comes
from the agent's file and the client's health URL, and the slow start is waited out.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitestack.control.agent import READY, StateFile, ask
from sitestack.control.drain import wait_fully_up
from sitestack.control.haproxy_runtime import RuntimeSocket, ServerState
from sitestack.recipes import convert
from sitestack.recipes.address import Address

IN_FLIGHT_HEADER = "X-In-Flight"
SLOWSTART = 5.0  # haproxy's slowstart (base.cfg's default), waited out where its socket is not on this host


@dataclass(frozen=True)
class AgentInfo:
    """site.json's extra.agent, written by the supervisor part from the agent part."""

    address: Address
    state: Path
    clients: tuple[str, ...]
    inter: float = 1.0

    @classmethod
    def from_site(cls, data: dict[str, Any]) -> "AgentInfo":
        return cls(convert.address(data["address"]), Path(data["state"]), tuple(data["clients"]),
                   float(data.get("inter", 1.0)))


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


def established(address: Address) -> int:
    """TCP connections established to a listening address on this host."""
    import psutil  # in bin/sitestack's and the watchdog's eggs (the supervisor part)

    return sum(1 for c in psutil.net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == address.port
               and c.laddr.ip in (address.host, "::ffff:" + address.host))


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return int(response.status) == 200
    except (OSError, ValueError):
        return False


class AgentDrain:
    """sitestack.control.drain's `Drain` through the agent instead of haproxy's admin socket."""

    def __init__(self, agent: AgentInfo, programs: dict[str, tuple[str, Address | None]],
                 status: RuntimeSocket | None = None, slowstart: float = SLOWSTART, progress: Callable[[str], None] = lambda message: None) -> None:
        self.agent, self.status, self.slowstart, self.progress = agent, status, slowstart, progress
        self.programs = programs  # client -> (health URL, address)
        self.file = StateFile(agent.state)
        self.ready_since: dict[str, float] = {}

    # ---- what the restart routine reads -------------------------------------------------------
    def states(self) -> dict[str, ServerState]:
        """The host's clients: haproxy's view where its socket is here, else the agent's and health's."""
        seen = self.status.servers() if self.status is not None else {}
        states = self.file.read()
        result = {}
        for name in self.agent.clients:
            url, address = self.programs.get(name, ("", None))
            if name in seen:
                result[name] = seen[name]
                continue
            state = states.get(name, READY)
            status = state.upper() if state != READY else "UP" if not url or answers(url) else "DOWN"
            result[name] = ServerState(name, status, 0, self.throttle(name))
        return result

    def sessions(self, client: str) -> int:
        """The client's own requests in flight (see the module's docstring for where it comes from)."""
        url, address = self.programs.get(client, ("", None))
        count = in_flight(url) if url else None
        if count is not None:
            return count
        if self.status is not None and client in (servers := self.status.servers()):
            return servers[client].sessions
        return established(address) if address else 0

    def throttle(self, client: str) -> int | None:
        since = self.ready_since.get(client)
        if since is None or not self.slowstart:
            return None
        return min(100, int(100 * (time.monotonic() - since) / self.slowstart))

    # ---- the Drain steps ----------------------------------------------------------------------
    def drain(self, client: str) -> None:
        self.set(client, "drain")

    def wait_idle(self, client: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.states().get(client)
            if state is None or state.down or self.sessions(client) == 0:
                return
            time.sleep(0.1)

    def maint(self, client: str) -> None:
        self.set(client, "maint")

    def ready(self, client: str, answering: bool) -> None:
        """`ready`: haproxy leaves maintenance and its own check judges the client (the agent never
        forces a check result, so a client that does not answer is taken out by its check)."""
        self.set(client, READY)
        if self.status is None:
            self.ready_since[client] = time.monotonic()

    def wait_ready(self, client: str, timeout: float) -> str | None:
        return wait_fully_up(self, client, timeout)

    def set(self, client: str, state: str) -> None:
        since = time.time()
        self.file.set(client, state)
        self.wait_seen(client, state, since)

    def wait_seen(self, client: str, state: str, since: float) -> bool:
        """Until haproxy has asked the agent since the state was set (bounded: 3 agent intervals + 1s)."""
        limit = 3 * self.agent.inter + 1.0
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                words = ask((self.agent.address.host, self.agent.address.port), f"seen {client}").split()
            except OSError:
                words = []
            if len(words) == 2 and words[0] == state and float(words[1]) >= since:
                return True
            time.sleep(0.05)
        self.progress(f"{client}: haproxy has not asked the agent within {limit:.0f}s (state {state} set; going on)")
        return False


def agent_clients(site: Any) -> tuple[str, ...]:
    """The clients the site's agent answers for (none without an agent part)."""
    data = site.extra.get("agent")
    return tuple(data["clients"]) if data else ()


def agent_drain(site: Any, timeout: float = 5.0) -> AgentDrain | None:
    """The site's agent as its `Drain`, or None for a site without an agent part."""
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
    status = RuntimeSocket(site.balancer.socket, site.balancer.backend, timeout) if site.balancer else None
    return AgentDrain(agent, programs, status)

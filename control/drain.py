"""How the restart routine takes a client out of rotation and puts it back: the `Drain` interface.

The restart (sitestack.control.restart) only ever talks to a `Drain`; `drain_for(site)` chooses the
implementation. Today that is `HaproxyDrain`, over haproxy's admin socket on this host. Another
implementation (haproxy's agent-check: an agent on each host answering `drain`, `maint`,
`ready up`/`ready down` for its own clients) plugs in here without touching the restart logic.

The order the restart uses:

    drain.drain(client)                  # no new requests; those in flight go on
    drain.wait_idle(client, timeout)     # until its in-flight requests are done (bounded)
    drain.maint(client)                  # no traffic at all; it may be stopped now
    ... restart, health URL answers, warm-up ...
    drain.ready(client, answering=True)  # back: UP at once (False: DOWN until the balancer's check passes)
    drain.wait_ready(client, timeout)    # until the balancer has it UP with its slow start over

`client` is the client's server name in the balancer (its part's program name, client1).
"""
from __future__ import annotations

import time
from typing import Protocol

from sitestack.control.haproxy_runtime import CommandRefused, RuntimeSocket, ServerState
from sitestack.control.ready import fully_up
from sitestack.control.site import Site


class DrainError(Exception):
    """The balancer refused a change of a client's state; the message says what and why."""


class Drain(Protocol):
    """A balancer's clients, as the restart routine drains and restores them.

    Every method raises OSError when the balancer cannot be reached and DrainError when it refuses.
    """

    def states(self) -> dict[str, ServerState]:
        """Every client of the site's backend by server name (for the at-most-k-out rule)."""
        ...

    def drain(self, client: str) -> None:
        """Send the client no new requests; the ones in flight go on."""
        ...

    def wait_idle(self, client: str, timeout: float) -> None:
        """Return once the client has no request in flight (or is down, or unknown), or after timeout."""
        ...

    def maint(self, client: str) -> None:
        """Send the client nothing at all, not even health checks: it is about to be stopped."""
        ...

    def ready(self, client: str, answering: bool) -> None:
        """Back into rotation: UP at once when answering, else DOWN until the balancer's own check passes."""
        ...

    def wait_ready(self, client: str, timeout: float) -> str | None:
        """None once the client is UP with its slow start over (or unknown); else, after timeout, what was seen."""
        ...


class HaproxyDrain:
    """`Drain` over haproxy's runtime API on its admin socket (`set server backend/server ...`)."""

    def __init__(self, runtime: RuntimeSocket) -> None:
        self.runtime = runtime

    def states(self) -> dict[str, ServerState]:
        return self.runtime.servers()

    def _set(self, client: str, what: str) -> None:
        try:
            self.runtime.set(client, what)
        except CommandRefused as error:
            raise DrainError(str(error)) from error

    def drain(self, client: str) -> None:
        self._set(client, "state drain")

    def wait_idle(self, client: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.states().get(client)
            if state is None or state.sessions == 0 or state.down:
                return
            time.sleep(0.1)

    def maint(self, client: str) -> None:
        self._set(client, "state maint")

    def ready(self, client: str, answering: bool) -> None:
        self._set(client, "health up" if answering else "health down")
        self._set(client, "state ready")

    def wait_ready(self, client: str, timeout: float) -> str | None:
        return wait_fully_up(self, client, timeout)


def wait_fully_up(drain: Drain, client: str, timeout: float) -> str | None:
    """`Drain.wait_ready` from `drain.states()`: None once the client is UP with its slow start over (or
    unknown); else, after timeout, what was seen last."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = drain.states().get(client)
        if state is None or fully_up(state.status, state.throttle):
            return None
        time.sleep(0.2)
    return f"{state.status}, throttle {state.throttle}" if state else "nothing"


def drain_for(site: Site, timeout: float = 5.0) -> Drain | None:
    """The site's balancer as a `Drain` (None for a site without one); `timeout` bounds each call.
    A site with an agent part drains through it (sitestack.control.agent_drain), haproxy's socket only reports."""
    from sitestack.control.agent_drain import agent_drain

    if agent := agent_drain(site, timeout):  # haproxy's agent-check (issue 14): any topology
        return agent
    if site.balancer is None:
        return None
    return HaproxyDrain(RuntimeSocket(site.balancer.socket, site.balancer.backend, timeout))

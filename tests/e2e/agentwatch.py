"""Watching haproxy's view of the clients while a restart drains them through the agent (issue 14)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from sitestack.control.agent import StateFile, ask
from sitestack.control.restart import RuntimeSocket, ServerState
from support import poll_for


def haproxy_servers(site_path: object) -> dict[str, ServerState]:
    return RuntimeSocket(f"{site_path}/var/haproxy/admin.sock", "clients").servers()


class StatusWatch:
    """Every status haproxy reports for each server, every 50 ms, while the block runs; an error in
    the watching thread is raised when the block ends."""

    def __init__(self, site_path: object) -> None:
        self.site_path = site_path
        self.seen: dict[str, set[str]] = {}
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.watch, name="haproxy-status", daemon=True)

    def watch(self) -> None:
        try:
            while not self.stop.is_set():
                for name, state in haproxy_servers(self.site_path).items():
                    self.seen.setdefault(name, set()).add(state.status)
                time.sleep(0.05)
        except BaseException as error:  # noqa: BLE001 - raised in __exit__
            self.errors.append(error)

    def __enter__(self) -> "StatusWatch":
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join(5)
        if self.errors and kind is None:
            raise AssertionError(f"watching haproxy failed: {self.errors[0]!r}") from self.errors[0]


def moves_through_the_agent(site_path: object, agent_port: int, client: str, other: str,
                            explain: Callable[[], str]) -> None:
    """The state file alone takes `client` to DRAIN (agent), MAINT and back UP; the agent says each
    was seen by haproxy; `other` stays in rotation."""
    state = StateFile(Path(f"{site_path}/var/agent/state.json"))
    agent = ("127.0.0.1", agent_port)
    try:
        for wanted, shown in (("drain", "DRAIN (agent)"), ("maint", "MAINT"), ("ready", "UP")):
            since = time.time()
            state.set(client, wanted)
            poll_for(lambda: haproxy_servers(site_path)[client].status.startswith(shown), 5,
                     f"haproxy reporting {client} {shown}", explain, interval=0.05)
            seen, when = ask(agent, f"seen {client}").split()
            assert seen == wanted and float(when) >= since, (seen, when, since)
            assert haproxy_servers(site_path)[other].status.startswith("UP")  # untouched (a slow check: UP 1/2)
        assert ask(agent, other) == "ready"  # haproxy's own question, as agent-send sends it
        assert ask(agent, "client9") == ""  # an unknown name gets no answer
    finally:
        state.set(client, "ready")

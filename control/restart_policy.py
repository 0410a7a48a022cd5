"""The rules of a restart and what it reports: `Policy`, `RestartResult`, `RestartError`, and `refusal`,
the pure decision whether a client may leave rotation now. The routine itself is sitestack.control.restart,
which re-exports all four."""
from __future__ import annotations

from dataclasses import dataclass, field

from sitestack.control.haproxy_runtime import ServerState


@dataclass(frozen=True)
class Policy:
    """How restarts are done; the defaults are what the listeners and rolling-restart use."""

    max_out: int = 1                # clients out of rotation at once (this one included)
    per_hour: int = 6               # automatic restarts of one client per hour before alerting
    drain_timeout: float = 10.0     # seconds to wait for in-flight requests
    hung_stop_timeout: float = 1.0  # a hung client gets SIGKILL after this long
    start_timeout: float = 300.0    # seconds for the restarted client to answer (a part's start-timeout wins)
    warmup: tuple[str, ...] = ()    # paths requested before it is put back (default: its health URL's page)
    back_timeout: float = 60.0      # seconds for haproxy to report it UP with its slow start over
    automatic: bool = True          # False (operator): no budget, may wait for a turn
    wait_turn: float = 0.0          # seconds to wait while too many clients are out


@dataclass
class RestartResult:
    """What happened: status is restarted, deferred, over-budget or failed."""

    namespec: str
    reason: str
    status: str
    message: str = ""
    cause: str = "operator"  # memory, health, rolling, reload, operator (sitestack.control.counters.CAUSES)
    old_pid: int = 0
    new_pid: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds since the start: out, stopped, healthy, back

    @property
    def ok(self) -> bool:
        return self.status == "restarted"

    def describe(self) -> str:
        steps = " ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        pids = f" pid {self.old_pid} -> {self.new_pid}" if self.new_pid else ""
        return f"{self.namespec}: {self.status} ({self.reason}){pids} {steps} {self.message}".rstrip()


class RestartError(Exception):
    """A step of a restart failed; the message says which."""


def refusal(servers: dict[str, ServerState], target: str, max_out: int) -> str | None:
    """Why taking `target` out of rotation now would break the rules, or None if it may go."""
    if target not in servers or not servers[target].in_rotation:
        return None  # already out (down, hung): restarting it takes nothing away
    others = [s for name, s in servers.items() if name != target]
    if not others:
        return None  # a single client: nothing could take over anyway
    if not any(s.in_rotation for s in others):
        return f"{target} is the last client in rotation"
    out = [s.name for s in others if not s.in_rotation]
    if len(out) >= max_out:
        return f"{len(out)} client(s) already out of rotation ({', '.join(out)}); at most {max_out} at once"
    return None

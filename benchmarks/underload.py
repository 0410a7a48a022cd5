"""Faults under the mixed load (benchmarks/load.py): run one, then account for every request and write."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.load import Load, Outcome, Summary, WriteReport, stored_ids
from benchmarks.loopback import poll_for

CONNECTIONS = 16
BEFORE = 40        # requests done before the fault starts
IN_WINDOW = 20     # at least this many requests end while the fault runs
AFTER = 40         # and this many after the stack is whole again


@dataclass(frozen=True)
class Result:
    """What a fault under load came to."""

    what: str
    summary: Summary
    writes: WriteReport

    def describe(self) -> str:
        return f"{self.what}: {self.summary.describe()}; {self.writes.describe()}"


def under_load(front: str, what: str, fault: Callable[[Load], None], recovered: Callable[[], object],
               outcomes: list[Outcome] | None = None, explain: Callable[[], str] = lambda: "") -> Result:
    """Run `fault` inside the load's fault window, wait until `recovered()`, and check every write
    (`outcomes`, when given, receives every request's outcome; `explain` says what was seen when the
    stack does not recover)."""
    with Load(front, connections=CONNECTIONS, seconds=120) as load:
        load.wait_for(BEFORE)
        with load.window():
            fault(load)
            load.wait_for(IN_WINDOW)
        poll_for(recovered, 60, f"the stack whole again after {what}", explain)
        load.wait_for(AFTER)
    time.sleep(0.5)  # the other client's invalidations arrive asynchronously
    result = Result(what, load.summary(), load.check_writes(stored_ids(front)))
    if outcomes is not None:
        outcomes.extend(load.outcomes)
    print(f"\n{result.describe()}")
    return result


def assert_nothing_lost(result: Result, explain: Callable[[], str] = lambda: "") -> None:
    """0 failed requests, a non-empty fault window, every acknowledged write stored once."""
    assert result.summary.in_window > 0, result.describe()
    assert result.summary.failed == 0, f"{result.describe()}\n{explain()}"
    assert result.writes.ok, f"{result.describe()}\nlost {result.writes.lost[:5]} " \
                             f"duplicated {result.writes.duplicated[:5]}"
    assert result.writes.acked > 0, result.describe()


def failed_lines(log: Path, limit: int = 15) -> str:
    """haproxy's log lines of requests that did not end in 200/201/303."""
    if not log.exists():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if ('"GET ' in line or '"POST ' in line) and not any(f" {s} " in line for s in (200, 201, 303))]
    return "\n".join(lines[-limit:])


def running_pid(stack: Any, namespec: str, timeout: float = 30.0) -> int:
    """The PID of a program once it is RUNNING (a worker may be between two lives at any moment)."""
    def pid() -> int:
        info = stack.rpc().supervisor.getProcessInfo(namespec)
        return int(info["pid"]) if info["statename"] == "RUNNING" else 0

    found = poll_for(pid, timeout, f"{namespec} RUNNING")
    stack.seen_pids.add(found)
    return found


def signal_pid(pid: int, signum: int) -> None:
    """os.kill for one process only: never 0 or -1 (the caller's own process group, or everything)."""
    if pid <= 1:
        raise AssertionError(f"refusing to send signal {signum} to PID {pid}")
    os.kill(pid, signum)

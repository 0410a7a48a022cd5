"""The restart routine's bookkeeping in var/: the hourly budget's log and the site-wide lock.

var/restarts.json: {namespec: [epoch seconds of each automatic restart in the last hour]}, read for
the budget (`over_budget`); var/restart.lock: flock'd while one restart decides, so the listeners
and operator commands decide one at a time.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOUR = 3600.0


def recent(times: list[float], now: float) -> list[float]:
    return [t for t in times if now - t < HOUR]


def over_budget(times: list[float], now: float, per_hour: int) -> bool:
    """True when `per_hour` restarts already happened in the last hour."""
    return len(recent(times, now)) >= per_hour


class RestartLog:
    """var/restarts.json: when each program was restarted automatically (for the budget)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def times(self, namespec: str) -> list[float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [float(t) for t in data.get(namespec, [])]

    def record(self, namespec: str, now: float) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data[namespec] = recent([*map(float, data.get(namespec, [])), now], now)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


@contextmanager
def site_lock(directory: Path) -> Iterator[None]:
    """One restart decision at a time across processes (listeners, operator commands) of the site in directory."""
    var = directory / "var"
    var.mkdir(parents=True, exist_ok=True)
    with open(var / "restart.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

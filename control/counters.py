"""Counters the exporter reads: restarts by cause and outcome, and the watchdog's checks.

    var/metrics/restarts.json   {"zeo-clients:client1": {"health": {"restarted": 2, "over-budget": 1}, ...}}
    var/metrics/watchdog.json   {"checks": {"<url>": {"program": ..., "run": n, "failed": n, "buckets": [...], ...}}}

Written by whoever makes the event happen (sitestack.control.restart for every restart routine, the exporter's
event listener for crashes, the watchdog after each tick), read by the exporter on each scrape. Each
write replaces the whole file atomically, so a reader never needs a lock and never waits; writers of
restarts.json take a lock of their own (never the restart lock), so counting never delays a restart.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Restart causes: the watchdog's (memory, health), the operator's (rolling, reload, operator) and
# supervisor's own restart of a process that exited unexpectedly (crash).
CAUSES = ("memory", "health", "rolling", "reload", "operator", "crash")
# Outcomes of a restart routine (sitestack.control.restart.RestartResult.status).
OUTCOMES = ("restarted", "failed", "over-budget", "deferred")
# Upper bounds (seconds) of the health check latency histogram.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def metrics_directory(site_directory: Path) -> Path:
    return site_directory / "var" / "metrics"


def cause_of(reason: str) -> str:
    """The cause of a restart from its reason ("memory 912MB > 800MB", "rolling restart", ...)."""
    word = reason.split(maxsplit=1)[0].lower() if reason.strip() else ""
    return word if word in CAUSES else "operator"


def read_json(path: Path) -> dict[str, Any]:
    """A counters file, or {} when it is missing or half-written by an older version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RestartCounts:
    """restarts.json: how often each process was restarted, by cause and outcome (never reset)."""

    def __init__(self, site_directory: Path) -> None:
        self.path = metrics_directory(site_directory) / "restarts.json"

    def add(self, namespec: str, cause: str, outcome: str) -> None:
        """Count one restart; a counter that cannot be written is not worth failing a restart for."""
        try:
            with _locked(self.path):
                data = read_json(self.path)
                outcomes = data.setdefault(namespec, {}).setdefault(cause, {})
                outcomes[outcome] = int(outcomes.get(outcome, 0)) + 1
                write_json(self.path, data)
        except OSError:
            pass

    def read(self) -> dict[str, dict[str, dict[str, int]]]:
        return read_json(self.path)


@dataclass
class CheckStats:
    """One health URL as the watchdog checked it: counts and a latency histogram."""

    program: str
    run: int = 0
    failed: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))  # per bucket, not cumulative
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float, failed: bool) -> None:
        self.run += 1
        self.failed += failed
        self.count += 1
        self.total += seconds
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1
                break

    def cumulative(self) -> list[tuple[str, int]]:
        """prometheus-client's histogram buckets: (upper bound, cumulative count), +Inf last."""
        running, out = 0, []
        for bound, number in zip(BUCKETS, self.buckets):
            running += number
            out.append((repr(bound), running))
        out.append(("+Inf", self.count))
        return out


class WatchdogStats:
    """watchdog.json: the watchdog's health checks and memory checks, kept across its restarts."""

    def __init__(self, site_directory: Path) -> None:
        self.path = metrics_directory(site_directory) / "watchdog.json"
        data = read_json(self.path)
        self.checks: dict[str, CheckStats] = {}
        for url, entry in data.get("checks", {}).items():
            try:
                self.checks[url] = CheckStats(**entry)
            except TypeError:
                continue
        self.memory_checks = int(data.get("memory_checks", 0))
        self.ticks = int(data.get("ticks", 0))

    def check(self, url: str, program: str) -> CheckStats:
        stats = self.checks.setdefault(url, CheckStats(program))
        if len(stats.buckets) != len(BUCKETS):
            stats.buckets = [0] * len(BUCKETS)
        return stats

    def save(self) -> None:
        data = {"checks": {url: vars(stats) for url, stats in self.checks.items()},
                "memory_checks": self.memory_checks, "ticks": self.ticks}
        try:
            write_json(self.path, data)
        except OSError:
            pass

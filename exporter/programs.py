"""Collectors for the supervised programs: state, memory against quota, restarts, health, watchdog.

Each collector reads fresh state on every scrape (supervisor's XML-RPC, sitestack.control.processes, the counter files
in var/metrics/, one GET per client health URL) and keeps nothing between scrapes but connections.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from sitestack.control import http_answer
from sitestack.control.counters import CAUSES, RestartCounts, WatchdogStats
from sitestack.control.processes import tree_rss
from sitestack.control.site import Site

STATES = ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN")
AUTOMATIC = ("memory", "health")  # the watchdog's causes
LABELS = ["program", "group"]


class ProgramCollector:
    """Every supervisor process: up, state, start time, tree RSS, quota, restarts by cause."""

    def __init__(self, site: Site, rpc: Callable[[], Any]) -> None:
        self.site, self.rpc = site, rpc
        self.counts = RestartCounts(site.directory)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        infos = self.rpc().supervisor.getAllProcessInfo()
        up = GaugeMetricFamily("sitestack_program_up", "1 when supervisor says RUNNING", labels=LABELS)
        state = GaugeMetricFamily("sitestack_program_state", "supervisor's state (1 for the current one)",
                                  labels=[*LABELS, "state"])
        start = GaugeMetricFamily("sitestack_program_start_time_seconds", "when supervisor last started it (unix time)",
                                  labels=LABELS)
        rss = GaugeMetricFamily("sitestack_program_rss_bytes", "resident memory of its process tree", labels=LABELS)
        quota = GaugeMetricFamily("sitestack_program_memory_quota_bytes", "the watchdog's memory quota for it",
                                  labels=LABELS)
        quotas = {p.namespec: p.memory_quota for p in self.site.programs if p.memory_quota}
        sizes = tree_rss([int(i["pid"]) for i in infos if i.get("pid")])
        for info in infos:
            labels = [info["name"], info["group"]]
            current = info["statename"] if info["statename"] in STATES else "UNKNOWN"
            up.add_metric(labels, 1.0 if current == "RUNNING" else 0.0)
            for name in STATES:
                state.add_metric([*labels, name], 1.0 if name == current else 0.0)
            start.add_metric(labels, float(info.get("start") or 0))
            if (size := sizes.get(int(info.get("pid") or 0))) is not None:
                rss.add_metric(labels, float(size))
            if (limit := quotas.get(f"{info['group']}:{info['name']}")) is not None:
                quota.add_metric(labels, float(limit))
        yield from (up, state, start, rss, quota)
        yield from self.restarts(infos)

    def restarts(self, infos: list[dict[str, Any]]) -> Iterator[Metric]:
        counts = self.counts.read()
        done = CounterMetricFamily("sitestack_program_restarts_total",
                                   "restarts by cause: the watchdog's (memory, health), operator's (rolling, "
                                   "reload, operator) and supervisor's own after an unexpected exit (crash)",
                                   labels=[*LABELS, "cause"])
        watchdog = CounterMetricFamily("sitestack_watchdog_restarts_total",
                                       "the watchdog's restarts by outcome (restarted, failed)",
                                       labels=[*LABELS, "outcome"])
        refused = CounterMetricFamily("sitestack_watchdog_restarts_refused_total",
                                      "restarts the watchdog did not do: budget (spent for this hour), "
                                      "rotation (the last client in rotation, or too many out)",
                                      labels=[*LABELS, "reason"])
        names = {f"{i['group']}:{i['name']}": [i["name"], i["group"]] for i in infos}
        for namespec in sorted(set(names) | set(counts)):
            labels = names.get(namespec) or [namespec.rpartition(":")[2], namespec.rpartition(":")[0]]
            by_cause = counts.get(namespec, {})
            for cause in CAUSES:
                done.add_metric([*labels, cause], float(by_cause.get(cause, {}).get("restarted", 0)))

            def automatic(outcome: str) -> float:
                return float(sum(by_cause.get(cause, {}).get(outcome, 0) for cause in AUTOMATIC))
            for outcome in ("restarted", "failed"):
                watchdog.add_metric([*labels, outcome], automatic(outcome))
            refused.add_metric([*labels, "budget"], automatic("over-budget"))
            refused.add_metric([*labels, "rotation"], automatic("deferred"))
        yield from (done, watchdog, refused)


def health_answer(url: str, timeout: float) -> tuple[int, float]:
    """(HTTP status or 0 for no answer, seconds it took)."""
    started = time.monotonic()
    status = http_answer.get(url, timeout).status
    return status, time.monotonic() - started


class HealthCollector:
    """Each app client's health URL, asked on every scrape (all clients at once, bounded by a timeout)."""

    def __init__(self, site: Site, timeout: float) -> None:
        self.clients = [p for p in site.programs if p.health_url and p.watchdog]
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(self.clients))), thread_name_prefix="health")

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        answers = list(self.pool.map(lambda p: health_answer(p.health_url, self.timeout), self.clients))
        status = GaugeMetricFamily("sitestack_client_health_status", "HTTP status of the health URL (0: no answer)",
                                   labels=LABELS)
        ok = GaugeMetricFamily("sitestack_client_health_ok", "1 when the health URL answered 200", labels=LABELS)
        seconds = GaugeMetricFamily("sitestack_client_health_seconds", "how long the health URL took to answer",
                                    labels=LABELS)
        for program, (code, took) in zip(self.clients, answers):
            labels = [program.name, program.group]
            status.add_metric(labels, float(code))
            ok.add_metric(labels, 1.0 if code == 200 else 0.0)
            seconds.add_metric(labels, took)
        yield from (status, ok, seconds)


class WatchdogCollector:
    """The watchdog's checks as it recorded them in var/metrics/watchdog.json."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        stats = WatchdogStats(self.site.directory)
        run = CounterMetricFamily("sitestack_watchdog_checks_total", "health checks the watchdog made",
                                  labels=["program", "url"])
        failed = CounterMetricFamily("sitestack_watchdog_checks_failed_total", "health checks that failed",
                                     labels=["program", "url"])
        latency = HistogramMetricFamily("sitestack_watchdog_check_seconds", "how long a health check took",
                                        labels=["program", "url"])
        for url, check in sorted(stats.checks.items()):
            labels = [check.program, url]
            run.add_metric(labels, float(check.run))
            failed.add_metric(labels, float(check.failed))
            latency.add_metric(labels, check.cumulative(), check.total)
        yield from (run, failed, latency)
        yield CounterMetricFamily("sitestack_watchdog_memory_checks_total", "process memory checks the watchdog made",
                                  value=float(stats.memory_checks))
        yield CounterMetricFamily("sitestack_watchdog_ticks_total", "TICK events the watchdog handled",
                                  value=float(stats.ticks))

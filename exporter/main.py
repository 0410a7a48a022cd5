"""bin/<exporter>: the site's Prometheus exporter, an event listener under supervisor.

    exporter --site site.json --listen 127.0.0.1:9180 [--events] [--varnish-workdir DIR]
             [--varnishstat PATH] [--zeo HOST:PORT] [--zeo-storage PATH] [--timeout SECONDS]

Serves /metrics (prometheus-client's threaded HTTP server) from collectors that read fresh state on
each scrape. With --events it is also a supervisor event listener for PROCESS_STATE_EXITED: an
unexpected exit is counted as a restart with cause `crash` in var/metrics/restarts.json, where the
restart routine counts the others. It never takes the restart lock, so a scrape never holds up a
restart; its own HTTP thread never blocks the event loop either.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from sitestack.control.counters import RestartCounts
from sitestack.control.site import Site, load_site
from sitestack.exporter.backups import BackupCollector
from sitestack.exporter.front import HaproxyCollector, VarnishCollector
from sitestack.exporter.programs import HealthCollector, ProgramCollector, WatchdogCollector
from sitestack.exporter.storage import QueueCollector, ZeoCollector
from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} exporter: {message}", file=sys.stderr, flush=True)


def address(text: str) -> Address:
    """A command-line address (HOST:PORT), through the one parser of addresses."""
    try:
        return convert.address(text)
    except Invalid as error:
        raise argparse.ArgumentTypeError(f"{error} (got {text!r})") from None


class Guarded:
    """One collector, timed; a collector that fails costs its own series, not the whole scrape."""

    def __init__(self, name: str, inner: Any, outcomes: dict[str, tuple[float, float]]) -> None:
        self.name, self.inner, self.outcomes = name, inner, outcomes

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        try:
            metrics = list(self.inner.collect())
            ok = 1.0
        except Exception as error:  # noqa: BLE001 - e.g. varnish down: its series go missing, the rest stay
            log(f"{self.name}: {type(error).__name__}: {error}")
            metrics, ok = [], 0.0
        self.outcomes[self.name] = (ok, time.monotonic() - started)
        yield from metrics


class ScrapeCollector:
    """How each collector did in this scrape (registered last, so the figures are this scrape's)."""

    def __init__(self, outcomes: dict[str, tuple[float, float]]) -> None:
        self.outcomes = outcomes

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily("sitestack_exporter_collector_success", "1 when the collector worked",
                                    labels=["collector"])
        seconds = GaugeMetricFamily("sitestack_exporter_collector_seconds", "how long the collector took",
                                    labels=["collector"])
        for name, (ok, took) in sorted(self.outcomes.items()):
            success.add_metric([name], ok)
            seconds.add_metric([name], took)
        yield from (success, seconds)


def rpc_factory(site: Site) -> Any:
    """A fresh XML-RPC proxy per use (a proxy is not safe to share between scrape threads)."""
    def connect() -> Any:
        if "SUPERVISOR_SERVER_URL" in os.environ:
            from supervisor import childutils

            return childutils.getRPCInterface(os.environ)
        return site.rpc()
    return connect


def build_registry(site: Site, options: argparse.Namespace) -> CollectorRegistry:
    rpc = rpc_factory(site)
    collectors: dict[str, Any] = {
        "programs": ProgramCollector(site, rpc),
        "health": HealthCollector(site, options.timeout),
        "watchdog": WatchdogCollector(site),
        "haproxy": HaproxyCollector(site, options.timeout),
    }
    if options.varnish_workdir:
        collectors["varnish"] = VarnishCollector(options.varnishstat, options.varnish_workdir, options.timeout)
    if options.zeo:
        zeo = next((p.namespec for p in site.programs if p.address == options.zeo), "")
        collectors["zeo"] = ZeoCollector(rpc, zeo, options.zeo.port, options.zeo_storage)
        collectors["queue"] = QueueCollector(options.zeo, options.timeout)
    if site.extra.get("backup"):
        collectors["backup"] = BackupCollector(site)
    registry = CollectorRegistry(auto_describe=False)
    outcomes: dict[str, tuple[float, float]] = {}
    for name, collector in collectors.items():
        registry.register(Guarded(name, collector, outcomes))
    registry.register(ScrapeCollector(outcomes))
    return registry


def count_crash(counts: RestartCounts, payload: str) -> str | None:
    """The namespec of a process that exited unexpectedly (counted), from a PROCESS_STATE_EXITED payload."""
    fields = dict(token.split(":", 1) for token in payload.split() if ":" in token)
    if fields.get("expected") != "0" or "processname" not in fields:
        return None
    namespec = f"{fields.get('groupname', fields['processname'])}:{fields['processname']}"
    counts.add(namespec, "crash", "restarted")
    return namespec


def listen_for_events(counts: RestartCounts, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """supervisor's event listener protocol: READY, one event, RESULT OK; forever."""
    from supervisor import childutils

    while True:
        headers, payload = childutils.listener.wait(stdin, stdout)
        if headers.get("eventname") == "PROCESS_STATE_EXITED":
            if namespec := count_crash(counts, payload):
                log(f"{namespec} exited unexpectedly: counted as a crash")
        childutils.listener.ok(stdout)


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="exporter", description="the site's Prometheus exporter")
    parse.add_argument("--site", required=True, help="site.json the supervisor part wrote")
    parse.add_argument("--listen", type=address, default=Address("127.0.0.1", 9180), help="HOST:PORT to serve /metrics on")
    parse.add_argument("--events", action="store_true", help="run as supervisor event listener (counts crashes)")
    parse.add_argument("--varnish-workdir", default="", help="varnishd's -n directory")
    parse.add_argument("--varnishstat", default="varnishstat")
    parse.add_argument("--zeo", type=address, default=None, help="the ZEO server's HOST:PORT")
    parse.add_argument("--zeo-storage", default="", help="the ZEO server's FileStorage file")
    parse.add_argument("--timeout", type=float, default=2.0, help="seconds for each source to answer")
    return parse


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    try:
        site = load_site(options.site)
    except (OSError, ValueError, KeyError) as error:
        log(f"cannot read the site {options.site}: {error}")
        return 2
    registry = build_registry(site, options)
    listen: Address = options.listen
    try:
        start_http_server(listen.port, listen.host, registry=registry)
    except OSError as error:
        log(f"cannot listen on {listen}: {error}")
        return 2
    log(f"serving /metrics on {listen}")
    if options.events:
        listen_for_events(RestartCounts(site.directory))
    else:
        threading.Event().wait()
    return 0

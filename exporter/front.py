"""Collectors for the front: haproxy's view of each client (its admin socket) and varnish's counters.

haproxy: `show stat` on the runtime socket the restart routine already uses (0600, never on the
network). varnish: `varnishstat -j -n <workdir>`, read-only on varnish's shared memory.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sitestack.control.haproxy_runtime import RuntimeSocket, ServerState
from sitestack.control.site import Site

SERVER_STATES = ("UP", "DOWN", "DRAIN", "MAINT", "NOLB", "NOCHECK")
VARNISH_COUNTERS = (
    # varnishstat name, metric name, help
    ("MAIN.client_req", "sitestack_varnish_requests_total", "client requests varnish received"),
    ("MAIN.cache_hit", "sitestack_varnish_cache_hits_total", "requests served from the cache"),
    ("MAIN.cache_miss", "sitestack_varnish_cache_misses_total", "requests fetched from the backend and cacheable"),
    ("MAIN.s_pass", "sitestack_varnish_passes_total", "requests passed to the backend (not cacheable)"),
    ("MAIN.backend_fail", "sitestack_varnish_backend_failures_total", "backend connections that failed"),
    ("MAIN.backend_unhealthy", "sitestack_varnish_backend_unhealthy_total",
     "fetches not attempted because the backend was sick"),
)


def server_state(status: str) -> str:
    """haproxy's status column reduced to one of SERVER_STATES ("UP 1/2" is UP, "MAINT(via x)" MAINT)."""
    text = status.strip().upper()
    if text == "NO CHECK":
        return "NOCHECK"
    for state in SERVER_STATES:
        if text.startswith(state):
            return state
    return "DOWN"


def server_rows(text: str, backend: str) -> list[dict[str, str]]:
    """`show stat` CSV rows of one backend's servers."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return [r for r in rows if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND", None)]


def _number(row: dict[str, str], column: str) -> float:
    try:
        return float(row.get(column) or 0)
    except ValueError:
        return 0.0


class HaproxyCollector:
    """Each server of the clients' backend (the balancer), and varnish as the edge's one server when the
    site has an edge: state, in rotation, sessions, retries, redispatches."""

    def __init__(self, site: Site, timeout: float) -> None:
        self.sockets = [RuntimeSocket(b.socket, b.backend, timeout) for b in (site.balancer, site.edge) if b]

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        if not self.sockets:
            return
        rows = [row for socket in self.sockets for row in server_rows(socket.command("show stat"), socket.backend)]
        labels = ["backend", "server"]
        state = GaugeMetricFamily("sitestack_haproxy_server_state", "haproxy's state of the server (1 for the current)",
                                  labels=[*labels, "state"])
        rotation = GaugeMetricFamily("sitestack_haproxy_server_in_rotation",
                                     "1 when haproxy sends it requests (UP or no check)", labels=labels)
        sessions = GaugeMetricFamily("sitestack_haproxy_server_sessions", "current sessions", labels=labels)
        families: list[Any] = [state, rotation, sessions]
        counters = {column: CounterMetricFamily(name, doc, labels=labels) for column, name, doc in (
            ("stot", "sitestack_haproxy_server_sessions_total", "sessions since haproxy started"),
            ("wretr", "sitestack_haproxy_server_retries_total", "connection retries to the server"),
            ("wredis", "sitestack_haproxy_server_redispatches_total", "requests redispatched to another server"),
            ("chkfail", "sitestack_haproxy_server_check_failures_total", "failed health checks"),
        )}
        for row in rows:
            names = [row["pxname"], row["svname"]]
            current = server_state(row.get("status", ""))
            for name in SERVER_STATES:
                state.add_metric([*names, name], 1.0 if name == current else 0.0)
            serving = ServerState(row["svname"], row.get("status", ""), 0).in_rotation
            rotation.add_metric(names, 1.0 if serving else 0.0)
            sessions.add_metric(names, _number(row, "scur"))
            for column, family in counters.items():
                family.add_metric(names, _number(row, column))
        yield from (*families, *counters.values())


def varnish_counters(text: str) -> dict[str, int]:
    """varnishstat -j output (format 1 of varnish 6.5+, or the older flat one) as name -> value."""
    data = json.loads(text)
    counters = data.get("counters", data) if isinstance(data, dict) else {}
    return {name: int(entry["value"]) for name, entry in counters.items()
            if isinstance(entry, dict) and isinstance(entry.get("value"), int)}


class VarnishCollector:
    """varnish's hits, misses, passes and whether its last probe of each backend succeeded."""

    def __init__(self, varnishstat: str, workdir: str, timeout: float) -> None:
        self.command = [varnishstat, "-j", "-n", workdir]
        self.timeout = timeout

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        result = subprocess.run(self.command, capture_output=True, text=True, timeout=self.timeout, check=False,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise OSError(f"varnishstat exited {result.returncode}: {result.stderr.strip()[:200]}")
        counters = varnish_counters(result.stdout)
        for key, name, doc in VARNISH_COUNTERS:
            if key in counters:
                yield CounterMetricFamily(name, doc, value=float(counters[key]))
        happy = GaugeMetricFamily("sitestack_varnish_backend_happy",
                                  "1 when varnish's last health probe of the backend succeeded", labels=["backend"])
        for key, value in sorted(counters.items()):
            if key.startswith("VBE.") and key.endswith(".happy"):
                happy.add_metric([key[len("VBE."):-len(".happy")]], float(value & 1))
        yield happy

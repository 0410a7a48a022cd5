"""Collectors for the storage side: the ZEO server (connected clients, storage size) and the worker queue.

The queue is read through a read-only ZEO connection of the exporter's own (one more connected
client), opened on the first scrape and kept; finished jobs are counted incrementally (their ids
sort by time and are never changed), so a scrape reads only the jobs finished since the last one.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sitestack.control.processes import established_on
from sitestack.recipes.address import Address
from sitestack.worker import queue


class ZeoCollector:
    """Clients connected to the ZEO server (its established TCP connections) and the storage's size."""

    def __init__(self, rpc: Callable[[], Any], namespec: str, port: int, storage: str) -> None:
        self.rpc, self.namespec, self.port, self.storage = rpc, namespec, port, storage

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        if self.storage:
            try:
                size = float(os.stat(self.storage).st_size)
            except OSError:
                size = None
            if size is not None:
                yield GaugeMetricFamily("sitestack_zeo_storage_bytes", "size of the FileStorage file", value=size)
        if not self.namespec:
            return
        pid = int(self.rpc().supervisor.getProcessInfo(self.namespec)["pid"])
        if not pid:
            return
        clients = established_on(pid, self.port)
        if clients is None:
            return
        yield GaugeMetricFamily("sitestack_zeo_connected_clients", "TCP connections of ZEO clients to the server",
                                value=float(clients))


class QueueCollector:
    """The worker queue: jobs pending and claimed, done and failed, the oldest pending job's age."""

    def __init__(self, zeo_address: Address, timeout: float) -> None:
        self.address, self.timeout = zeo_address, timeout
        self.db: Any = None
        self.done = 0
        self.failed = 0
        self.lock = threading.Lock()  # one ZEO connection: one scrape at a time reads the queue

    def describe(self) -> list[Metric]:
        return []

    def open(self) -> Any:
        if self.db is None:
            import ZEO  # imported late: the exporter starts (and serves the rest) before ZEO answers

            self.db = ZEO.DB((self.address.host, self.address.port), read_only=True, wait_timeout=self.timeout)
        return self.db

    def read(self, root: Any) -> dict[str, float]:
        now = time.time()
        if queue.PENDING not in root:
            return {"pending": 0, "claimed": 0, "oldest": 0.0}
        jobs = [queue.Job.from_record(k, v) for k, v in root[queue.PENDING].items()]
        # Job ids are random (worker/queue.py), so finished jobs cannot be counted from the last key
        # seen: count them all. The buckets stay in this connection's cache between scrapes.
        finished = [bool(record[6]) for record in root[queue.DONE].values()]
        self.done, self.failed = len(finished), sum(finished)
        claimed = sum(1 for j in jobs if not j.claimable(now))
        oldest = now - min(j.enqueued for j in jobs) if jobs else 0.0
        return {"pending": len(jobs) - claimed, "claimed": claimed, "oldest": max(0.0, oldest)}

    def collect(self) -> Iterator[Metric]:
        try:
            with self.lock:
                figures = queue.in_transaction(self.open(), self.read, write=False)
        except Exception as error:  # noqa: BLE001 - ZEO down or starting: say so, try again next scrape
            print(f"exporter: cannot read the worker queue: {type(error).__name__}: {error}", file=sys.stderr,
                  flush=True)
            if self.db is not None:
                self.db.close()
                self.db = None
            yield GaugeMetricFamily("sitestack_queue_up", "1 when the exporter could read the queue", value=0.0)
            return
        yield GaugeMetricFamily("sitestack_queue_up", "1 when the exporter could read the queue", value=1.0)
        yield GaugeMetricFamily("sitestack_queue_jobs_pending", "jobs waiting for a worker", value=figures["pending"])
        yield GaugeMetricFamily("sitestack_queue_jobs_claimed", "jobs a worker holds (lease not run out)",
                                value=figures["claimed"])
        yield GaugeMetricFamily("sitestack_queue_oldest_pending_age_seconds",
                                "age of the oldest job not finished yet (0 when there is none)", value=figures["oldest"])
        yield CounterMetricFamily("sitestack_queue_jobs_done_total", "jobs finished (failed ones included)",
                                  value=float(self.done))
        yield CounterMetricFamily("sitestack_queue_jobs_failed_total", "jobs given up after their last attempt",
                                  value=float(self.failed))

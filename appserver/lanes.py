"""A health lane for waitress: health checks never queue behind busy application threads.

waitress hands every request to one pool of threads. When each of them renders a slow page,
haproxy's check waits in the queue, times out, and the client is taken out of rotation although
it is fine: with every client busy, the last one goes too. `LanedDispatcher` sends a connection
whose next request is for the health path to a small pool of its own instead.
"""
from __future__ import annotations

from typing import Any

from waitress.task import ThreadedTaskDispatcher

HEALTH_THREADS = 2


class LanedDispatcher(ThreadedTaskDispatcher):
    """waitress's dispatcher, with health-path requests served by a lane of their own."""

    def __init__(self, health_path: str, threads: int = HEALTH_THREADS) -> None:
        super().__init__()
        self.health_path = health_path
        self.lane = ThreadedTaskDispatcher()
        self.lane.set_thread_count(threads)

    def add_task(self, task: Any) -> None:
        requests = getattr(task, "requests", None)
        if self.health_path and requests and getattr(requests[0], "path", None) == self.health_path:
            self.lane.add_task(task)
        else:
            super().add_task(task)

    def shutdown(self, cancel_pending: bool = True, timeout: int = 5) -> bool:
        self.lane.shutdown(cancel_pending, timeout)
        return bool(super().shutdown(cancel_pending, timeout))

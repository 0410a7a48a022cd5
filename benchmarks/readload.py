"""A light read load (uncached GETs through varnish) for the Zope and slow start-up tests.

The zero-loss tests use the mixed GET/POST load of benchmarks/load.py (benchmarks/underload.py); these tests
check that a client is never declared ready before it answers, where reads are what a user would see
fail first (a Zope site's pages are GETs), so a GET load with every request counted is enough.
"""
from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from benchmarks.loopback import poll_for
from benchmarks.site import Site, Stack, serving


@dataclass
class Load:
    """A few threads issuing GETs, bounded in count and time; every request is counted."""

    url: str
    threads: int = 3
    limit: int = 4000          # requests per thread at most
    seconds: float = 90.0      # and for this long at most
    pause: float = 0.01
    bust: bool = False         # a query string of its own on each request, so varnish never answers from cache
    results: list[tuple[float, int, float]] = field(default_factory=list)  # (start, status, latency)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> "Load":
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)
        # a worker that has not returned would leave its requests uncounted
        assert not [w for w in self._workers if w.is_alive()], "a load thread is still running after 60 s"

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        for number in range(self.limit):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            started = time.monotonic()
            url = f"{self.url}?n={threading.get_ident()}-{number}" if self.bust else self.url
            try:
                with urllib.request.urlopen(url, timeout=40) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except (OSError, http.client.HTTPException):  # refused, reset, timed out, a broken answer
                status = 0
            self.results.append((started, status, time.monotonic() - started))
            time.sleep(self.pause)

    @property
    def failed(self) -> list[tuple[float, int, float]]:
        return [r for r in self.results if r[1] != 200]

    def report(self) -> str:
        worst = max((r[2] for r in self.results), default=0.0)
        slow = sum(1 for r in self.results if r[2] > 1.0)
        return (f"{len(self.failed)} failed of {len(self.results)} requests, {slow} waited over 1s, "
                f"worst latency {worst:.2f}s, statuses of failures {sorted({r[1] for r in self.failed})}")


def pages(site: Site) -> str:
    """The uncached page through varnish."""
    return f"http://127.0.0.1:{site.ports.varnish}/api/notes"


def settle(site: Site, stack: Stack) -> None:
    """Back to both clients serving, then a second more of load."""
    poll_for(lambda: serving(site, stack), 60, "both clients serving again", stack.explain)
    time.sleep(1)


def failures(site: Site, load: Load) -> str:
    """The load's report and haproxy's log lines of requests that did not end in 200."""
    log = site.path / "var" / "log" / "haproxy.log"
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if '"GET ' in line and " 200 " not in line] if log.exists() else []
    return load.report() + "\n" + "\n".join(lines[-15:])

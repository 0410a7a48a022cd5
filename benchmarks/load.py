"""A mixed read/write load through the site's front that accounts for every request.

    with Load("http://127.0.0.1:8080", connections=16, seconds=60) as load:
        time.sleep(1)
        with load.window():          # requests started in here are the fault window's
            inject_the_fault()
    print(load.summary().describe())
    print(load.check_writes(stored_ids(...)).describe())

Each of `connections` threads keeps one HTTP/1.1 connection (http.client) and sends, in turn,
uncached GETs of the notes and POSTs of a note carrying a unique id (form field `id` and the
`Idempotency-Key` header, also in the note's text). Every request ends as exactly one Outcome:
its status, the exception type that ended it, or "timeout". The load is bounded in time and
in count. A thread that fails in its own bookkeeping records that as an outcome ("crash: ...")
and the load's summary fails, so no thread dies unseen. Nothing is retried here: a failed
request is a failed request to the person who sent it.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

OK = {"GET": "200", "POST": "201"}
GET_PATH = "/api/notes?limit=5"
NOTE_PREFIX = "load "


@dataclass(frozen=True)
class Outcome:
    """One request: what it was, when it ran (monotonic seconds), and how it ended."""

    method: str
    started: float
    ended: float
    result: str  # the status ("200"), "timeout", an exception type, or "crash: ..."
    write_id: str = ""

    @property
    def ok(self) -> bool:
        return self.result == OK[self.method]

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class Summary:
    """Counts by outcome, the fault window's share, and the worst latency."""

    total: int
    failed: int
    by_result: dict[str, int]
    in_window: int
    failed_in_window: int
    worst_latency: float
    writes: int

    def describe(self) -> str:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_result.items()))
        return (f"{self.failed} failed of {self.total} requests ({self.writes} writes); "
                f"{self.in_window} started in the fault window ({self.failed_in_window} failed); "
                f"worst latency {self.worst_latency:.2f}s; outcomes {{{kinds}}}")


@dataclass(frozen=True)
class WriteReport:
    """Acknowledged writes against what the database holds afterwards."""

    acked: int
    errored: int
    lost: tuple[str, ...]             # acknowledged, not stored
    duplicated: tuple[str, ...]       # stored more than once
    errored_stored: tuple[str, ...]   # got an error, stored once (reported, allowed)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated

    def describe(self) -> str:
        return (f"writes: {self.acked} acknowledged, {len(self.lost)} of them lost, "
                f"{len(self.duplicated)} duplicated; {self.errored} errored, "
                f"{len(self.errored_stored)} of those stored")


@dataclass
class Load:
    """`connections` threads of mixed GETs and POSTs against base_url, bounded in time and count."""

    base_url: str
    connections: int = 16
    seconds: float = 60.0
    limit: int = 50_000               # requests in all, at most
    write_every: int = 3              # every third request of a thread is a POST
    timeout: float = 40.0
    get_path: str = GET_PATH
    outcomes: list[Outcome] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _issued: int = 0

    def __enter__(self) -> "Load":
        for number in range(self.connections):
            thread = threading.Thread(target=self._run, args=(number,), name=f"load-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def join(self) -> None:
        """Wait until the load ends by its own bounds (time or count)."""
        for thread in self._threads:
            thread.join(self.seconds + self.timeout + 5)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:  # a thread stuck past its own timeout is a failure too, not a silent loss
            self._record(Outcome("GET", time.monotonic(), time.monotonic(), f"crash: {alive} did not stop"))

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        """Requests started between entering and leaving this block belong to the fault window."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.windows.append((start, time.monotonic()))

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Block until `count` more requests have ended (so a window is not empty by chance)."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.01)

    def _take(self) -> bool:
        with self._lock:
            if self._issued >= self.limit:
                return False
            self._issued += 1
            return True

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _run(self, number: int) -> None:
        deadline = time.monotonic() + self.seconds
        url = urlsplit(self.base_url)
        connection: http.client.HTTPConnection | None = None
        sent = 0
        while not self._stop.is_set() and time.monotonic() < deadline and self._take():
            sent += 1
            method = "POST" if sent % self.write_every == 0 else "GET"
            write_id = uuid.uuid4().hex if method == "POST" else ""
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=self.timeout)
                result = self._request(connection, method, write_id)
            except (TimeoutError, socket.timeout):
                result = "timeout"
            except Exception as error:  # noqa: BLE001 - every way a request can end is counted
                result = type(error).__name__
            if result != OK[method] and connection is not None:
                connection.close()
                connection = None
            self._record(Outcome(method, started, time.monotonic(), result, write_id))
        if connection is not None:
            connection.close()

    def _request(self, connection: http.client.HTTPConnection, method: str, write_id: str) -> str:
        if method == "GET":
            connection.request("GET", self.get_path, headers={"Accept": "application/json"})
        else:
            body = urlencode({"text": f"{NOTE_PREFIX}{write_id}", "id": write_id})
            connection.request("POST", "/notes", body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                "Idempotency-Key": write_id})
        response = connection.getresponse()
        response.read()
        if response.will_close:
            connection.close()
        return str(response.status)

    def in_windows(self, outcome: Outcome) -> bool:
        return any(start <= outcome.started <= end for start, end in self.windows)

    def summary(self) -> Summary:
        with self._lock:
            outcomes = list(self.outcomes)
        failed = [o for o in outcomes if not o.ok]
        window = [o for o in outcomes if self.in_windows(o)]
        return Summary(
            total=len(outcomes),
            failed=len(failed),
            by_result=dict(Counter(f"{o.method} {o.result}" for o in outcomes)),
            in_window=len(window),
            failed_in_window=sum(1 for o in window if not o.ok),
            worst_latency=max((o.latency for o in outcomes), default=0.0),
            writes=sum(1 for o in outcomes if o.method == "POST"),
        )

    def check_writes(self, stored: Counter[str]) -> WriteReport:
        """Compare the POSTs with `stored` (unique id -> how many notes carry it)."""
        posts = [o for o in self.outcomes if o.method == "POST"]
        acked = [o.write_id for o in posts if o.ok]
        errored = [o.write_id for o in posts if not o.ok]
        sent = {o.write_id for o in posts}
        return WriteReport(
            acked=len(acked),
            errored=len(errored),
            lost=tuple(i for i in acked if stored.get(i, 0) == 0),
            duplicated=tuple(sorted(i for i in sent if stored.get(i, 0) > 1)),
            errored_stored=tuple(i for i in errored if stored.get(i, 0) == 1),
        )


def stored_ids(base_url: str, timeout: float = 60.0,
               fetch: Callable[[str, float], bytes] | None = None) -> Counter[str]:
    """How many notes carry each load id, from the demo app's GET /api/notes?all=1 (every note)."""
    body = (fetch or _fetch)(base_url.rstrip("/") + "/api/notes?all=1", timeout)
    notes = json.loads(body)["notes"]
    return Counter(n["text"][len(NOTE_PREFIX):] for n in notes if n["text"].startswith(NOTE_PREFIX))


def _fetch(url: str, timeout: float) -> bytes:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}", headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")
        return body
    finally:
        connection.close()

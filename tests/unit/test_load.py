"""The load generator (benchmarks/load.py) against a real little HTTP server that misbehaves on purpose."""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import waitress
from waitress.wasyncore import close_all

from benchmarks.load import Load, stored_ids
from support import free_port


class Flaky:
    """GET: 200; POST: 201, but every 7th request (if a POST) is a 500 and every 11th is cut short."""

    def __init__(self) -> None:
        self.count, self.lock = 0, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            self.count += 1
            number = self.count
        if number % 11 == 0:  # a response cut short: the client sees IncompleteRead
            start_response("200 OK", [("Content-Length", "100"), ("Content-Type", "text/plain")])
            return [b"ok"]
        if environ["REQUEST_METHOD"] == "POST":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            status = "500 Internal Server Error" if number % 7 == 0 else "201 Created"
        else:
            status = "200 OK"
        start_response(status, [("Content-Length", "2"), ("Content-Type", "text/plain")])
        return [b"ok"]


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    app = Flaky()
    served: Any = waitress.create_server(app, host="127.0.0.1", port=port, threads=8)
    def run() -> None:
        try:
            served.run()
        except OSError:  # the loop's sockets closed under it when the test ends
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    close_all(served._map)
    thread.join(5)


def test_every_request_is_counted_by_kind_and_the_window_separately(server):
    with Load(server, connections=16, seconds=10, limit=600) as load:
        load.wait_for(50)
        with load.window():
            load.wait_for(100)
        load.join()
    summary = load.summary()
    assert summary.total == 600, summary.describe()
    assert sum(summary.by_result.values()) == 600
    assert summary.failed == 600 - summary.by_result.get("GET 200", 0) - summary.by_result.get("POST 201", 0)
    assert summary.by_result.get("POST 500", 0) > 0, summary.describe()
    assert summary.writes == sum(v for k, v in summary.by_result.items() if k.startswith("POST"))
    assert summary.in_window >= 100, summary.describe()
    assert summary.failed > 0 and "failed of 600 requests" in summary.describe()


def test_the_load_stops_at_its_time_bound(server):
    started = time.monotonic()
    with Load(server, connections=16, seconds=1.0, limit=10**9) as load:
        time.sleep(0.2)
    assert time.monotonic() - started < 1.0 + 5
    assert load.summary().total > 16


def test_write_check_finds_lost_duplicated_and_errored_writes(server):
    with Load(server, connections=16, seconds=10, limit=300) as load:
        load.join()
    posts = [o for o in load.outcomes if o.method == "POST"]
    acked = [o.write_id for o in posts if o.ok]
    errored = [o.write_id for o in posts if not o.ok]
    assert acked and errored
    stored = Counter({i: 1 for i in acked[1:]})
    stored[acked[2]] = 2
    stored[errored[0]] = 1
    report = load.check_writes(stored)
    assert report.lost == (acked[0],)
    assert report.duplicated == (acked[2],)
    assert report.errored_stored == (errored[0],)
    assert not report.ok and "1 of them lost, 1 duplicated" in report.describe()
    assert load.check_writes(Counter({i: 1 for i in acked})).ok


def test_stored_ids_counts_notes_that_carry_a_load_id():
    body = (b'{"count": 3, "notes": [{"text": "load abc"}, {"text": "load abc"}, '
            b'{"text": "a note of a person"}, {"text": "load def"}]}')
    assert stored_ids("http://x", fetch=lambda url, timeout: body) == Counter({"abc": 2, "def": 1})

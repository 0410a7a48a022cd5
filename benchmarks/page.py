"""A page of realistic cost for the side-by-side benchmark: the demo's home page over N notes.

The demo's `/` reads every note, keeps the newest 100 and renders them as HTML (no-cache, so varnish
passes it to the clients every time). With a couple of thousand notes that costs a client a few
milliseconds of CPU, like a real CMS page. It uses no test-only route: the notes are posted through
the app's own POST /notes, each with an Idempotency-Key, so seeding twice stores them once.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse

PATH = "/"
SEED_THREADS = 8


def post_notes(port: int, numbers: range) -> list[str]:
    """POST one note per number on one keep-alive connection; the problems seen (empty: all stored)."""
    problems: list[str] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for number in numbers:
            body = urllib.parse.urlencode({"text": f"note {number}: a few words, as a visitor would leave them"})
            try:
                connection.request("POST", "/notes", body, {
                    "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                    "Idempotency-Key": f"benchmark-note-{number}"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                problems.append(f"note {number}: {type(error).__name__}: {error}")
                connection.close()
                continue
            if response.status != 201:
                problems.append(f"note {number}: HTTP {response.status}")
    finally:
        connection.close()
    return problems


def seed(port: int, count: int) -> None:
    """`count` notes through the port (haproxy), SEED_THREADS writers; raises if any was not stored."""
    problems: list[str] = []
    lock = threading.Lock()

    def writer(numbers: range) -> None:
        try:
            found = post_notes(port, numbers)
        except Exception as error:  # noqa: BLE001 - a writer's crash is reported, never lost
            found = [f"writer {numbers}: {type(error).__name__}: {error}"]
        with lock:
            problems.extend(found)

    threads = [threading.Thread(target=writer, args=(range(k, count, SEED_THREADS),)) for k in range(SEED_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if problems:
        raise RuntimeError(f"{len(problems)} of {count} notes not stored, e.g. {problems[:3]}")


def wait_for_jobs(port: int, timeout: float = 300) -> None:
    """Until the workers have done every job the notes queued (so they do not load the measurement)."""
    deadline = time.monotonic() + timeout
    pending = -1
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/api/jobs")
            pending = int(json.loads(connection.getresponse().read())["pending"])
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            pending = -1
        finally:
            connection.close()
        if pending == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"the workers still had {pending} jobs after {timeout:.0f}s")

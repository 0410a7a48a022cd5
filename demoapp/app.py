"""The demo WSGI application: notes in the ZODB, shown by whichever client serves the request.

It runs under appserver, which puts the ZODB.DB into environ['sitestack.db'] and the client
name into environ['sitestack.client'].
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import ZODB
from transaction.interfaces import TransientError
from ZODB.POSException import ConflictError

from sitestack.appserver.health import database_problem
from sitestack.demoapp import jobs, pages, store
from sitestack.worker import queue

MAX_BODY = 64 * 1024
MAX_NOTE = 2000
FORM = "application/x-www-form-urlencoded"
NO_CACHE = "no-cache"
WRITE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class Request:
    """What the handlers need from the WSGI environ."""

    method: str
    path: str
    client: str
    db: ZODB.DB | None
    environ: dict[str, Any]

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> "Request":
        client = environ.get("sitestack.client") or os.environ.get("SITESTACK_CLIENT") or "unknown"
        return cls(environ.get("REQUEST_METHOD", "GET").upper(), environ.get("PATH_INFO") or "/",
                   client, environ.get("sitestack.db"), environ)

    def wants_json(self) -> bool:
        return "application/json" in self.environ.get("HTTP_ACCEPT", "")


@dataclass(frozen=True)
class Response:
    """Status, body and the headers that differ between responses."""

    status: str
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    cache_control: str = NO_CACHE
    extra: tuple[tuple[str, str], ...] = ()
    # a body sent piece by piece (its pieces add up to `body`'s length; only test pages use it)
    pieces: Callable[[], Iterable[bytes]] | None = None


def text(status: str, message: str, cache_control: str = "no-store", **extra: str) -> Response:
    return Response(status, (message + "\n").encode("utf-8"), cache_control=cache_control,
                    extra=tuple((k.replace("_", "-"), v) for k, v in extra.items()))


def json_response(status: str, data: object) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8")


def html(page: str, cache_control: str = NO_CACHE) -> Response:
    return Response("200 OK", page.encode("utf-8"), "text/html; charset=utf-8", cache_control)


def home(request: Request) -> Response:
    """GET /: the notes, newest first."""
    count, notes = store.recent_notes(database(request))
    return html(pages.home_page(count, notes, request.client))


def api_notes(request: Request) -> Response:
    """GET /api/notes: the same as JSON; ?limit=N (1..1000) the newest N, ?all=1 every note."""
    query = parse_qs(request.environ.get("QUERY_STRING", ""))
    limit = query.get("limit", [str(store.SHOWN)])[0]
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        return text("400 Bad Request", "expected limit=1..1000")
    every = query.get("all", [""])[0] == "1"
    count, notes = store.recent_notes(database(request), None if every else int(limit))
    return json_response("200 OK", {"count": count, "notes": [n.as_json() for n in notes],
                                    "served_by": request.client})


def post_note(request: Request) -> Response:
    """POST /notes: add the form field `text`; 303 to / (or 201 JSON when asked for JSON)."""
    content_type = request.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in ("", FORM):
        return text("415 Unsupported Media Type", f"expected a form ({FORM})")
    length = request.environ.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        return text("413 Content Too Large", f"expected a form of at most {MAX_BODY} bytes")
    body = request.environ["wsgi.input"].read(int(length)).decode("utf-8", "replace")
    form = parse_qs(body, max_num_fields=20)
    note_text = form.get("text", [""])[0].strip()
    write_id = request.environ.get("HTTP_IDEMPOTENCY_KEY") or form.get("id", [""])[0]
    if write_id and not WRITE_ID.fullmatch(write_id):
        return text("400 Bad Request", "a write id (Idempotency-Key, form field 'id') is 1-128 letters, digits, '._:-'")
    if not note_text:
        return text("400 Bad Request", "the form field 'text' is required")
    if len(note_text) > MAX_NOTE:
        return text("400 Bad Request", f"a note has at most {MAX_NOTE} characters")
    note, count, replay = store.add_note(database(request), note_text, request.client, write_id or None)
    if request.wants_json():
        return json_response("201 Created", {"note": note.as_json(), "count": count, "replay": replay,
                                             "served_by": request.client})
    return text("303 See Other", "see /", Location="/")


def health(request: Request) -> Response:
    """GET /health: 200 after a real database read, 503 with the reason otherwise."""
    problem = database_problem(database(request))
    if problem:
        return text("503 Service Unavailable", f"unavailable {request.client}: {problem}")
    return text("200 OK", f"ok {request.client}")


def api_jobs(request: Request) -> Response:
    """GET /api/jobs: the worker pool's queue (pending, claimed, recently done); ?note=ID adds its word count."""
    note = parse_qs(request.environ.get("QUERY_STRING", "")).get("note", [""])[0]

    def work(root: Any) -> dict[str, Any]:
        data = queue.summary(root)
        if note:
            data["note_stats"] = jobs.stats(root, note)
        return data

    return json_response("200 OK", store.in_transaction(database(request), work, write=False))


def cached(request: Request) -> Response:
    """GET /cached: a page any cache may keep for a minute."""
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return html(pages.cached_page(request.client, generated), "public, max-age=60")


Handler = Callable[[Request], Response]
ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"GET": home},
    "/notes": {"POST": post_note},
    "/api/notes": {"GET": api_notes},
    "/health": {"GET": health},
    "/cached": {"GET": cached},
    "/api/jobs": {"GET": api_jobs},
}

# Test only, off by default (clients option test-memory-growth = true sets the variable):
# GET /_test/grow?mb=N keeps N more MB resident, so e2e tests can push a client past its quota;
# GET /_test/slow sends its answer slowly, so e2e tests can kill a client in the middle of it.
_BALLAST: list[bytes] = []


def grow(request: Request) -> Response:
    mb = parse_qs(request.environ.get("QUERY_STRING", "")).get("mb", ["50"])[0]
    if not mb.isdigit() or not 1 <= int(mb) <= 1024:
        return text("400 Bad Request", "expected mb=1..1024")
    _BALLAST.append(b"\x01" * (int(mb) * 1024 * 1024))
    return text("200 OK", f"grew by {mb}MB ({len(_BALLAST)} times)")


SLOW_PIECES, SLOW_PIECE, SLOW_PAUSE = 10, 32 * 1024, 0.2


def slow(request: Request) -> Response:
    """GET /_test/slow: 320KB sent in 10 pieces 0.2s apart, ending with the client's name, so a test
    can kill the client while the response is on its way."""
    tail = f"\nserved by {request.client}\n".encode()

    def pieces() -> Iterator[bytes]:
        for number in range(SLOW_PIECES):
            time.sleep(SLOW_PAUSE)
            yield b"." * SLOW_PIECE
        yield tail

    return Response("200 OK", b"." * (SLOW_PIECES * SLOW_PIECE) + tail, cache_control="no-store", pieces=pieces)


if os.environ.get("SITESTACK_TEST_MEMORY_GROWTH") == "1":
    ROUTES["/_test/grow"] = {"GET": grow}
    ROUTES["/_test/slow"] = {"GET": slow}


class NoDatabase(Exception):
    """The app runs outside appserver: nothing put a database into the environ."""


def database(request: Request) -> ZODB.DB:
    if request.db is None:
        raise NoDatabase()
    return request.db


def allowed(methods: dict[str, Handler]) -> str:
    return ", ".join(sorted({*methods, *(["HEAD"] if "GET" in methods else [])}))


def dispatch(request: Request) -> Response:
    """Route the request; database trouble becomes a 503 that says what happened."""
    methods = ROUTES.get(request.path)
    if methods is None:
        return text("404 Not Found", f"not found: {request.path}")
    handler = methods.get("GET" if request.method == "HEAD" else request.method)
    if handler is None:
        return text("405 Method Not Allowed", f"{request.method} is not allowed here", Allow=allowed(methods))
    try:
        return handler(request)
    except NoDatabase:
        return text("500 Internal Server Error", "no database in environ['sitestack.db']; run demoapp with appserver")
    except ConflictError:
        return text("503 Service Unavailable", "too many conflicting writes; try again", Retry_After="1")
    except TransientError as error:
        return text("503 Service Unavailable", f"database unavailable: {type(error).__name__}", Retry_After="5")


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI entry point: sitestack.demoapp:application."""
    request = Request.from_environ(environ)
    response = dispatch(request)
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(response.body))),
        ("Cache-Control", response.cache_control),
        ("X-Served-By", request.client),
        *response.extra,
    ]
    start_response(response.status, headers)
    if request.method == "HEAD":
        return []
    return response.pieces() if response.pieces else [response.body]

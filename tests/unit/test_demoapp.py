"""demoapp against a real ZEO server: pages, notes, health, and two clients writing at once."""
from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
import ZODB
from ZEO.ClientStorage import ClientStorage

from sitestack.demoapp import application
from sitestack.demoapp.store import add_note, recent_notes
from support import poll_for
from zeo_server import ZeoProcess


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(db: ZODB.DB | None, method: str, path: str, body: bytes = b"", client: str = "client-a",
         **headers: str) -> Answer:
    """Call the app the way waitress does; headers are given as CGI names (HTTP_ACCEPT=...)."""
    environ: dict[str, object] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                                  "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
                                  "sitestack.client": client, **headers}
    if db is not None:
        environ["sitestack.db"] = db
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks = application(environ, lambda status, hdrs, exc_info=None: started.append((status, hdrs)))
    status, hdrs = started[0]
    return Answer(int(status.split()[0]), dict(hdrs), b"".join(chunks))


def form(text: str) -> dict[str, object]:
    return {"body": urlencode({"text": text}).encode(), "CONTENT_TYPE": "application/x-www-form-urlencoded"}


def open_db(zeo: ZeoProcess, cache: Path) -> ZODB.DB:
    storage = ClientStorage(("127.0.0.1", zeo.port), blob_dir=str(cache), shared_blob_dir=False, wait_timeout=10)
    return ZODB.DB(storage)


@pytest.fixture
def zeo(tmp_path: Path) -> Iterator[ZeoProcess]:
    server = ZeoProcess(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def db(zeo: ZeoProcess, tmp_path: Path) -> Iterator[ZODB.DB]:
    database = open_db(zeo, tmp_path / "cache-a")
    try:
        yield database
    finally:
        database.close()


def test_an_empty_database_shows_no_notes_and_who_served_it(db):
    answer = call(db, "GET", "/")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["X-Served-By"] == "client-a"
    assert '<strong id="served-by">client-a</strong>' in answer.text
    assert '<span id="count">0</span> notes.' in answer.text
    assert "<li><em>no notes yet</em></li>" in answer.text


def test_a_posted_note_redirects_and_is_shown_escaped(db):
    answer = call(db, "POST", "/notes", **form("<script>alert('x')</script> & more"))
    assert (answer.status, answer.headers["Location"]) == (303, "/")
    page = call(db, "GET", "/").text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<script>" not in page
    assert '<span id="count">1</span> notes.' in page


def test_posting_with_accept_json_answers_json(db):
    answer = call(db, "POST", "/notes", HTTP_ACCEPT="application/json", **form("hello"))
    assert answer.status == 201
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(answer.body)
    assert (data["note"]["text"], data["note"]["client"], data["count"], data["served_by"]) == (
        "hello", "client-a", 1, "client-a")


def test_api_lists_notes_newest_first(db):
    for text in ("first", "second", "third"):
        call(db, "POST", "/notes", **form(text))
    answer = call(db, "GET", "/api/notes", client="client-b")
    data = json.loads(answer.body)
    assert answer.headers["Cache-Control"] == "no-cache"
    assert (data["count"], data["served_by"]) == (3, "client-b")
    assert [n["text"] for n in data["notes"]] == ["third", "second", "first"]
    assert set(data["notes"][0]) == {"id", "text", "client", "created"}


@pytest.mark.parametrize(
    "body, content_type, status, message",
    [
        (b"text=", "application/x-www-form-urlencoded", 400, "the form field 'text' is required\n"),
        (b"other=x", "", 400, "the form field 'text' is required\n"),
        (b"text=" + b"x" * 2001, "application/x-www-form-urlencoded", 400, "a note has at most 2000 characters\n"),
        (b'{"text": "x"}', "application/json", 415, "expected a form (application/x-www-form-urlencoded)\n"),
        (b"text=" + b"x" * 70000, "application/x-www-form-urlencoded", 413,
         "expected a form of at most 65536 bytes\n"),
    ],
)
def test_bad_posts_are_refused_with_a_reason(db, body, content_type, status, message):
    answer = call(db, "POST", "/notes", body=body, CONTENT_TYPE=content_type)
    assert (answer.status, answer.text) == (status, message)
    assert json.loads(call(db, "GET", "/api/notes").body)["count"] == 0


@pytest.mark.parametrize(
    "method, path, status, allow",
    [
        ("GET", "/nowhere", 404, None),
        ("GET", "/notes", 405, "POST"),
        ("POST", "/", 405, "GET, HEAD"),
        ("DELETE", "/api/notes", 405, "GET, HEAD"),
    ],
)
def test_unknown_paths_and_wrong_methods(db, method, path, status, allow):
    answer = call(db, method, path)
    assert answer.status == status
    assert answer.headers.get("Allow") == allow
    assert answer.headers["Cache-Control"] == "no-store"


def test_head_has_the_headers_of_get_and_no_body(db):
    get, head = call(db, "GET", "/cached"), call(db, "HEAD", "/cached")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"


def test_the_cached_page_is_cacheable(db):
    answer = call(db, "GET", "/cached")
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    assert "Generated by <strong>client-a</strong>" in answer.text


def test_health_reads_the_database_and_says_503_when_zeo_is_gone(db, zeo):
    assert (call(db, "GET", "/health").status, call(db, "GET", "/health").text) == (200, "ok client-a\n")
    zeo.kill()
    # the client learns of the dead server asynchronously (its connection's event loop); a check
    # made before that makes a round trip that fails instead, with another message
    poll_for(lambda: not db.storage.is_connected(), 5, "the client to notice the ZEO server is gone")
    started = time.monotonic()
    answer = call(db, "GET", "/health")
    assert (answer.status, answer.text) == (503, "unavailable client-a: not connected to the ZEO server\n")
    assert time.monotonic() - started < 1


def test_without_appserver_the_app_says_what_is_missing():
    answer = call(None, "GET", "/")
    assert (answer.status, answer.text) == (
        500, "no database in environ['sitestack.db']; run demoapp with appserver\n")


def test_a_note_written_through_one_client_is_read_through_another(db, zeo, tmp_path):
    other = open_db(zeo, tmp_path / "cache-b")
    try:
        call(db, "POST", "/notes", **form("from a"))
        data = poll_notes(other, lambda d: d["count"] == 1)
        assert (data["notes"][0]["text"], data["notes"][0]["client"], data["served_by"]) == (
            "from a", "client-a", "client-b")
    finally:
        other.close()


def poll_notes(db: ZODB.DB, done, timeout: float = 5.0) -> dict:
    """The /api/notes answer once done(data) holds (invalidations arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(call(db, "GET", "/api/notes", client="client-b").body)
        if done(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_two_clients_writing_at_once_on_a_new_database_lose_nothing(db, zeo, tmp_path):
    """Both create the structures and append at the same time: conflicts are resolved or retried."""
    other = open_db(zeo, tmp_path / "cache-b")
    barrier, errors = threading.Barrier(8), []

    def write(database: ZODB.DB, client: str, worker: int) -> None:
        barrier.wait()
        try:
            for i in range(15):
                add_note(database, f"{client}-{worker}-{i}", client)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    try:
        threads = [threading.Thread(target=write, args=(d, c, w))
                   for d, c in ((db, "client-a"), (other, "client-b")) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        deadline = time.monotonic() + 5  # the other client's commits arrive asynchronously
        while (count_notes := recent_notes(other, limit=1000))[0] < 120 and time.monotonic() < deadline:
            time.sleep(0.05)
        count, notes = count_notes
        assert count == len(notes) == 120
        assert {n.text for n in notes} == {f"{c}-{w}-{i}" for c in ("client-a", "client-b")
                                           for w in range(4) for i in range(15)}
    finally:
        other.close()


def test_a_retried_post_with_the_same_write_id_is_stored_once(db):
    first = call(db, "POST", "/notes", HTTP_ACCEPT="application/json", HTTP_IDEMPOTENCY_KEY="abc-1", **form("once"))
    again = call(db, "POST", "/notes", HTTP_ACCEPT="application/json", HTTP_IDEMPOTENCY_KEY="abc-1",
                 client="client-b", **form("once"))
    by_form = call(db, "POST", "/notes", HTTP_ACCEPT="application/json",
                   body=urlencode({"text": "twice?", "id": "abc-1"}).encode(),
                   CONTENT_TYPE="application/x-www-form-urlencoded")
    assert (first.status, again.status, by_form.status) == (201, 201, 201)
    answers = [json.loads(a.body) for a in (first, again, by_form)]
    assert [a["replay"] for a in answers] == [False, True, True]
    assert {a["note"]["id"] for a in answers} == {answers[0]["note"]["id"]}
    every = json.loads(call(db, "GET", "/api/notes", QUERY_STRING="all=1").body)
    assert [n["text"] for n in every["notes"]] == ["once"] and every["count"] == 1


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 129, "é"])
def test_a_bad_write_id_is_refused(db, key):
    if not key:  # an empty header is no id at all: stored with a random key
        assert call(db, "POST", "/notes", HTTP_IDEMPOTENCY_KEY=key, **form("t")).status == 303
        return
    answer = call(db, "POST", "/notes", HTTP_IDEMPOTENCY_KEY=key, **form("t"))
    assert answer.status == 400 and "write id" in answer.text


def test_the_page_form_carries_a_fresh_write_id(db):
    pages = [call(db, "GET", "/").text for _ in range(2)]
    ids = [p.split('name="id" value="')[1].split('"')[0] for p in pages]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)

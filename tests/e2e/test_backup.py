"""Backups proven to restore, on the real stack under a write load (notes POSTed through varnish).

One stack on the shared site: notes are posted, a full backup is taken by its cron line run as cron
runs it, more notes, an incremental the same way, more notes; then Data.fs is overwritten with
garbage and the blobs deleted, and `bin/sitestack restore` brings back exactly the notes and blobs of
each point. A pack through the running server under load loses no request and no referenced object.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
import ZODB
from ZEO.ClientStorage import ClientStorage
from ZODB.blob import Blob, BushyLayout
from ZODB.POSException import ConflictError

from sitestack.demoapp import store
from e2e.site import Stack, run
from support import http_get, poll_for, scrape

pytestmark = pytest.mark.e2e
BLOBS = "backup-test-blobs"
CRON_ENV = ["env", "-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=root"]


@dataclass
class Writer:
    """Threads POSTing notes through varnish, bounded in count and time; every request is recorded."""

    url: str
    tag: str  # in every note's text: notes of different writers never look alike
    threads: int = 2
    limit: int = 1500
    seconds: float = 60.0
    results: list[tuple[str, float, float, int]] = field(default_factory=list)  # (text, start, end, status)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _errors: list[BaseException] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a request got no answer at all

    def __enter__(self) -> "Writer":
        for number in range(self.threads):
            worker = threading.Thread(target=self._guarded, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)
        assert not any(w.is_alive() for w in self._workers), "a writer thread did not stop"
        assert not self._errors, self._errors

    def _guarded(self, number: int) -> None:
        try:
            self._run(number)
        except BaseException as error:  # noqa: BLE001 - seen in __exit__
            self._errors.append(error)

    def _run(self, number: int) -> None:
        deadline = time.monotonic() + self.seconds
        for sequence in range(self.limit):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            text = f"{self.tag}-{number}-{sequence}"
            request = urllib.request.Request(self.url, data=f"text={text}".encode(),
                                             headers={"Accept": "application/json"})
            started = time.time()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError as error:
                status = 0
                self.refused.append(repr(error))
            self.results.append((text, started, time.time(), status))
            time.sleep(0.005)

    def acknowledged(self, before: float) -> set[str]:
        return {text for text, _, end, status in self.results if status == 201 and end < before}

    def started_after(self, after: float) -> set[str]:
        return {text for text, start, _, _ in self.results if start > after}


@pytest.fixture(scope="module")
def running(site) -> Iterator[Stack]:
    stack = Stack(site.path)
    try:
        stack.start()
        poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
        poll_for(lambda: http_get(f"http://127.0.0.1:{site.ports.varnish}/")[0] == 200, 30, "the front serving",
                 stack.explain)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def cache() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sitestack-backup-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Database:
    """A ZEO client of the site's server in the test process, closed after each use."""

    def __init__(self, site, cache: Path) -> None:
        self.address = ("127.0.0.1", site.ports.zeoserver)
        self.cache = cache

    def open(self) -> ZODB.DB:
        return ZODB.DB(ClientStorage(self.address, blob_dir=str(self.cache / "blobs"), wait_timeout=30))

    def put_blob(self, name: str, data: bytes) -> None:
        db = self.open()
        try:
            for attempt in range(10):  # the app writes the root too (its first note creates the tree)
                try:
                    with db.transaction() as conn:
                        blobs = dict(conn.root().get(BLOBS, {}))
                        blobs[name] = Blob(data)
                        conn.root()[BLOBS] = blobs
                    return
                except ConflictError:
                    if attempt == 9:
                        raise
        finally:
            db.close()

    def contents(self) -> tuple[Counter[str], dict[str, bytes]]:
        """Every note's text (with how often it is there) and every test blob's data."""
        db = self.open()
        try:
            _count, notes = store.recent_notes(db, limit=10**6)
            with db.transaction() as conn:
                blobs = {k: v.open().read() for k, v in conn.root().get(BLOBS, {}).items()}
            return Counter(n.text for n in notes), blobs
        finally:
            db.close()


def cron_command(site, suffix: str) -> str:
    """The command of the backup block's line whose command ends with suffix, as cron would run it."""
    text = site.crontab.read_text()
    block = text.split(f"# sitestack [backup] {site.path}: begin", 1)[1].split("\n# sitestack [backup]", 1)[0]
    lines = [line for line in block.splitlines()[1:] if f"/bin/backup{suffix} >>" in line]
    assert len(lines) == 1, text
    return lines[0].split(None, 5)[5].replace("\\%", "%")


def run_as_cron(site, suffix: str) -> tuple[float, float, str]:
    log = site.path / "var" / "log" / "backup.log"
    before = log.read_text() if log.exists() else ""
    started = time.time()
    result = subprocess.run([*CRON_ENV, "/bin/sh", "-c", cron_command(site, suffix)], cwd="/", capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    ended = time.time()
    written = log.read_text()[len(before):]
    assert result.returncode == 0 and "point" in written, (result, written)
    return started, ended, written


def sitestack(site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(site.path / "bin" / "sitestack"), *args], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def damage(site) -> None:
    """Data.fs overwritten with garbage in place, every blob file deleted."""
    data = site.path / "var" / "filestorage" / "Data.fs"
    with open(data, "r+b") as handle:
        handle.write(os.urandom(data.stat().st_size))
    for blob in (site.path / "var" / "blobstorage").rglob("*.blob"):
        blob.unlink()


def restore(site, stack: Stack, *args: str) -> str:
    started = time.monotonic()
    result = sitestack(site, "restore", *args)
    print(f"bin/sitestack restore {' '.join(args)}: {time.monotonic() - started:.1f}s\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr + stack.explain()
    poll_for(stack.all_running, 60, "every program RUNNING after the restore", stack.explain)
    poll_for(lambda: http_get(f"http://127.0.0.1:{site.ports.varnish}/")[0] == 200, 30, "the front serving",
             stack.explain)
    return result.stdout


def check_point(db: Database, writer: Writer, start: float, end: float, blobs: dict[str, bytes]) -> None:
    notes, found_blobs = db.contents()
    before, after = writer.acknowledged(start), writer.started_after(end)
    assert before and after
    assert not [t for t in before if notes[t] != 1], "a note acknowledged before the backup is missing or doubled"
    assert not [t for t in after if notes[t]], "a note posted after the backup is there"
    assert max(notes.values()) == 1
    assert found_blobs == blobs


def test_restore_drill(site, running, cache):
    db = Database(site, cache)
    url = f"http://127.0.0.1:{site.ports.varnish}/notes"
    with Writer(url, "drill") as writer:
        db.put_blob("a", b"blob a" * 1000)
        time.sleep(1.5)
        full_start, full_end, written = run_as_cron(site, " --full")
        assert " full point " in written, written
        time.sleep(1.5)
        db.put_blob("b", b"blob b" * 1000)
        incremental_start, incremental_end, written = run_as_cron(site, "")
        assert " incremental point " in written, written
        time.sleep(1.0)
        db.put_blob("c", b"blob c" * 1000)
    failed = [r for r in writer.results if r[3] != 201]
    assert not failed and len(writer.results) > 50, (failed[:5], writer.refused[:3], len(writer.results))
    status = sitestack(site, "status").stdout
    assert "newest " in status and "(incremental)" in status, status
    assert "ok    backups in" in sitestack(site, "check").stdout
    points = sitestack(site, "restore", "--list").stdout.split("\n")
    full, incremental = [line.split()[0] for line in points if line.strip()][-2:]
    samples = scrape(site.ports.exporter)
    newest = datetime.strptime(incremental, "%Y-%m-%d-%H-%M-%S").replace(tzinfo=timezone.utc).timestamp()
    assert samples.get(("sitestack_backup_newest_timestamp_seconds", ())) == newest, samples
    assert samples[("sitestack_backup_points", ())] >= 2
    assert samples[("sitestack_backup_newest_bytes", (("kind", "blobs"),))] > 0

    damage(site)
    out = restore(site, running, "--date", full)
    assert f"to backup point {full} (full" in out and "verified: last transaction" in out, out
    check_point(db, writer, full_start, full_end, {"a": b"blob a" * 1000})
    aside = list((site.path / "var" / "filestorage").glob("before-restore-*/Data.fs"))
    assert aside, "the damaged Data.fs was not kept aside"

    damage(site)
    out = restore(site, running)
    assert f"to backup point {incremental} (incremental" in out, out
    check_point(db, writer, incremental_start, incremental_end, {"a": b"blob a" * 1000, "b": b"blob b" * 1000})
    assert http_get(f"http://127.0.0.1:{site.ports.varnish}/")[0] == 200


def test_restore_refuses_an_incomplete_set(site, running):
    location = site.path / "backups"
    newest = sorted((location / "points").glob("*.json"))[-1]
    newest.rename(newest.with_suffix(".hidden"))
    try:
        before = {i["name"]: i["pid"] for i in running.info()}
        result = sitestack(site, "restore")
        assert result.returncode == 2, result
        assert result.stdout.startswith("sitestack restore: refused: incomplete backup set: "), result.stdout
        assert {i["name"]: i["pid"] for i in running.info()} == before  # nothing was stopped
    finally:
        newest.with_suffix(".hidden").rename(newest)


def test_pack_under_load_loses_nothing(site, running, cache):
    db = Database(site, cache)
    db.put_blob("old", b"replaced" * 1000)
    conn_db = db.open()
    try:
        with conn_db.transaction() as conn:
            old_oid = conn.root()[BLOBS]["old"]._p_oid
    finally:
        conn_db.close()
    db.put_blob("old", b"current" * 1000)  # the first blob object is now unreferenced
    old_dir = site.path / "var" / "blobstorage" / BushyLayout().oid_to_path(old_oid)
    assert list(old_dir.glob("*.blob"))
    url = f"http://127.0.0.1:{site.ports.varnish}/notes"
    with Writer(url, "pack") as writer:
        time.sleep(1.0)
        result = run([str(site.path / "bin" / "backup"), "--pack", "--days", "0"], site.path)
        assert "packed" in result.stdout, result.stdout
        time.sleep(1.0)
    failed = [r for r in writer.results if r[3] != 201]
    assert not failed and writer.results, failed[:5]
    notes, blobs = db.contents()
    assert all(notes[text] == 1 for text in writer.acknowledged(time.time()))
    assert blobs["old"] == b"current" * 1000 and blobs["a"] == b"blob a" * 1000
    assert not list(old_dir.glob("*.blob")), "the pack left the unreferenced blob"
    assert (site.path / "var" / "filestorage" / "Data.fs.old").exists()
    record = json.loads((site.path / "parts" / "backup" / "backup.json").read_text())
    assert record["pack_days"] == 7  # the cron line's pack keeps a week; this test packed to now

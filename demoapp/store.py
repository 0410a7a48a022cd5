"""The notes in the ZODB: an OOBTree of records and a conflict-free counter beside it.

Every call opens its own connection with its own transaction manager, so requests in
different waitress threads never share a transaction. Writes retry on ConflictError,
which also makes creating the structures safe when two clients do it at once.

Notes are keyed by a random-looking id, not by time: concurrent writers then insert into
different buckets of the tree (or into one bucket at different keys, which the BTree's conflict
resolution merges) instead of all splitting its last bucket at once. A write that carries a
unique id (the form field `id` or the `Idempotency-Key` header) is keyed by a digest of it, so a
retried POST finds the note it stored before and stores nothing twice.
"""
from __future__ import annotations

import hashlib
import heapq
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import ZODB
from BTrees.Length import Length
from BTrees.OOBTree import OOBTree

from sitestack.appserver import transactions
from sitestack.demoapp import jobs

T = TypeVar("T")
NOTES = "notes"
COUNT = "notes_count"
ATTEMPTS = 20  # a conflict costs a retry (milliseconds), never the user's write
SHOWN = 100


@dataclass(frozen=True)
class Note:
    """One note: its key in the tree, its text, which client took it, and when (UTC, ISO 8601)."""

    id: str
    text: str
    client: str
    created: str

    def record(self) -> tuple[str, str, str]:
        """What the tree stores: a tuple, so no class of ours is pickled and the ZEO server
        can resolve concurrent inserts (with dict values its conflict resolution gives up)."""
        return (self.text, self.client, self.created)

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text, "client": self.client, "created": self.created}


def note_key(write_id: str | None) -> str:
    """The tree key of a note: a digest of the writer's unique id, or a random one without it."""
    if write_id:
        return "k" + hashlib.sha256(write_id.encode("utf-8")).hexdigest()[:32]
    return "r" + secrets.token_hex(16)


def new_note(text: str, client: str, write_id: str | None = None) -> Note:
    """A note keyed so that concurrent writers meet rarely, stamped with its creation time (UTC)."""
    now = time.time_ns()
    created = datetime.fromtimestamp(now / 1e9, timezone.utc).isoformat(timespec="milliseconds")
    return Note(note_key(write_id), text, client, created.replace("+00:00", "Z"))


def in_transaction(db: ZODB.DB, work: Callable[[Any], T], write: bool) -> T:
    """Run work(root) in a fresh connection; commit writes, retrying ConflictError (reads are not retried)."""
    return transactions.in_transaction(db, work, write, attempts=ATTEMPTS, retry_reads=False)


def structures(root: Any) -> tuple[OOBTree, Length]:
    """The notes tree and counter, created on first use."""
    if NOTES not in root:
        root[NOTES] = OOBTree()
        root[COUNT] = Length()
    return root[NOTES], root[COUNT]


def add_note(db: ZODB.DB, text: str, client: str, write_id: str | None = None) -> tuple[Note, int, bool]:
    """Store a note once per write_id; returns it, the count this transaction saw, and whether
    it was there already (a retried write: nothing stored, the first note returned)."""

    def work(root: Any) -> tuple[Note, int, bool]:
        tree, count = structures(root)
        note = new_note(text, client, write_id)
        existing = tree.get(note.id)
        if existing is not None:
            return Note(note.id, *existing), count(), True
        tree[note.id] = note.record()
        count.change(1)
        jobs.enqueue_note(root, note.id)  # same transaction: a job exists exactly when its note does
        return note, count(), False

    return in_transaction(db, work, write=True)


def recent_notes(db: ZODB.DB, limit: int | None = SHOWN) -> tuple[int, list[Note]]:
    """The number of notes and the newest `limit` of them (all when None), newest first.

    The tree is not in time order, so this reads every record: fine for a demo's few thousand
    notes; a site with millions keeps a time index beside it (and pays for its contention)."""

    def work(root: Any) -> tuple[int, list[Note]]:
        if NOTES not in root:
            return 0, []
        notes = (Note(key, *record) for key, record in root[NOTES].items())
        by_time = lambda note: (note.created, note.id)  # noqa: E731
        newest = sorted(notes, key=by_time, reverse=True) if limit is None else \
            heapq.nlargest(limit, notes, key=by_time)
        return root[COUNT](), newest

    return in_transaction(db, work, write=False)

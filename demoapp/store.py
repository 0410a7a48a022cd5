"""The notes in the ZODB: an OOBTree of records and a conflict-free counter beside it.

Every call opens its own connection with its own transaction manager, so requests in
different waitress threads never share a transaction. Writes retry on ConflictError,
which also makes creating the structures safe when two clients do it at once.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import ZODB
from BTrees.Length import Length
from BTrees.OOBTree import OOBTree

from appserver import transactions
from demoapp import jobs

T = TypeVar("T")
NOTES = "notes"
COUNT = "notes_count"
ATTEMPTS = 8
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


def new_note(text: str, client: str) -> Note:
    """A note whose key sorts by creation time and is unique across clients."""
    now = time.time_ns()
    created = datetime.fromtimestamp(now / 1e9, timezone.utc).isoformat(timespec="milliseconds")
    return Note(f"{now:020d}-{client}-{secrets.token_hex(4)}", text, client, created.replace("+00:00", "Z"))


def in_transaction(db: ZODB.DB, work: Callable[[Any], T], write: bool) -> T:
    """Run work(root) in a fresh connection; commit writes, retrying ConflictError (reads are not retried)."""
    return transactions.in_transaction(db, work, write, attempts=ATTEMPTS, retry_reads=False)


def structures(root: Any) -> tuple[OOBTree, Length]:
    """The notes tree and counter, created on first use."""
    if NOTES not in root:
        root[NOTES] = OOBTree()
        root[COUNT] = Length()
    return root[NOTES], root[COUNT]


def add_note(db: ZODB.DB, text: str, client: str) -> tuple[Note, int]:
    """Store a note; returns it and the count of notes this transaction saw."""

    def work(root: Any) -> tuple[Note, int]:
        tree, count = structures(root)
        note = new_note(text, client)
        tree[note.id] = note.record()
        count.change(1)
        jobs.enqueue_note(root, note.id)  # same transaction: a job exists exactly when its note does
        return note, count()

    return in_transaction(db, work, write=True)


def recent_notes(db: ZODB.DB, limit: int = SHOWN) -> tuple[int, list[Note]]:
    """The number of notes and the newest `limit` of them, newest first."""

    def work(root: Any) -> tuple[int, list[Note]]:
        if NOTES not in root:
            return 0, []
        items = root[NOTES].items()
        newest = reversed(items[-limit:]) if len(items) else []
        notes = [Note(key, *record) for key, record in newest]
        return root[COUNT](), notes

    return in_transaction(db, work, write=False)

"""The demo's background work: each saved note queues a job that counts its words.

The note and its job are written in one transaction (store.add_note calls enqueue_note), so a
job exists exactly when its note does. The worker pool runs `handle`; its result lands in
`note_stats` in the same transaction that marks the job done. `note_stats` keeps how many times
each note was counted: 1 for every note, however often a worker was killed mid-job.
"""
from __future__ import annotations

from typing import Any

from BTrees.OOBTree import OOBTree

from sitestack.worker import queue

KIND = "count-words"
STATS = "note_stats"


def enqueue_note(root: Any, note_id: str) -> str:
    """Queue the word count of a note (inside the caller's transaction)."""
    return queue.enqueue(root, KIND, note_id)


def handle(root: Any, job: queue.Job) -> str:
    """Count a note's words and remember it; returns the result recorded with the job."""
    if job.kind != KIND:
        raise ValueError(f"unknown job kind {job.kind!r}")
    from sitestack.demoapp.store import NOTES

    record = root[NOTES].get(job.payload) if NOTES in root else None
    if record is None:
        return "note gone"
    if STATS not in root:
        root[STATS] = OOBTree()
    words = len(record[0].split())
    _, times = root[STATS].get(job.payload, (0, 0))
    root[STATS][job.payload] = (words, times + 1)
    return f"{words} words"


def stats(root: Any, note_id: str) -> tuple[int, int] | None:
    """(words, times counted) of a note, or None before a worker counted it."""
    if STATS not in root:
        return None
    counted: tuple[int, int] | None = root[STATS].get(note_id)
    return counted

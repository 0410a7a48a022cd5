"""The worker pool's job queue on a real ZEO server: leases, kill -9, and two workers racing.

Each "worker" is its own ClientStorage connection to the server, as in the running pool, so
conflicts are detected and resolved by the ZEO server itself.
"""
from __future__ import annotations

import time

import pytest
import transaction
import ZODB
from ZEO.ClientStorage import ClientStorage
from ZODB.POSException import ConflictError

from sitestack.demoapp import jobs, store
from sitestack.worker import queue
from sitestack.worker.runner import Settings, Worker
from sitestack.appserver.settings import Address
from zeo_server import ZeoProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ZeoProcess(tmp_path_factory.mktemp("zeo")).start()
    yield process
    process.stop()


@pytest.fixture
def open_db(server, tmp_path):
    """Open ZODB.DBs on the server (one per simulated worker); each test starts with an empty queue."""
    opened = []

    def open_one() -> ZODB.DB:
        storage = ClientStorage(("127.0.0.1", server.port), blob_dir=str(tmp_path / f"blobs{len(opened)}"),
                                shared_blob_dir=False, wait_timeout=10)
        db = ZODB.DB(storage)
        opened.append(db)
        return db

    first = open_one()
    queue.in_transaction(first, lambda root: [root.pop(k, None) for k in (queue.PENDING, queue.DONE, "test_counts")])
    open_one.first = first  # type: ignore[attr-defined]
    yield open_one
    for db in opened:
        db.close()


def enqueue(db, *payloads) -> list[str]:
    return queue.in_transaction(db, lambda root: [queue.enqueue(root, "test", p) for p in payloads])


def caught_up(*dbs) -> None:
    """ZEO sends invalidations asynchronously: wait until every connection sees the last commit."""
    for db in dbs:
        db.storage.server_status()  # a round trip: invalidations sent before its answer are in


def record(root, job: queue.Job) -> str:
    """A handler that counts how often each payload was done, in the job's own transaction."""
    counts = root.setdefault("test_counts", {})
    counts[job.payload] = counts.get(job.payload, 0) + 1
    root["test_counts"] = counts
    return f"did {job.payload}"


def counts(db) -> dict:
    return queue.in_transaction(db, lambda root: dict(root.get("test_counts", {})), write=False)


def test_two_workers_racing_for_one_job_one_wins_the_other_takes_the_next(open_db):
    a, b = open_db.first, open_db()
    enqueue(a, "first", "second")
    caught_up(b)
    managers = [transaction.TransactionManager(), transaction.TransactionManager()]
    connections = [db.open(transaction_manager=m) for db, m in zip((a, b), managers)]
    try:
        for m in managers:
            m.begin()
        now = time.time()
        # both look from the start of the tree (workers look from a random place: they rarely meet)
        claimed = [queue.claim_in(c.root(), f"w{i}", 30, now, start="") for i, c in enumerate(connections)]
        assert claimed[0].id == claimed[1].id  # both saw the same job
        managers[0].commit()
        with pytest.raises(ConflictError):  # the server cannot merge two changes of one key
            managers[1].commit()
    finally:
        for m, c in zip(managers, connections):
            m.abort()
            c.close()
    # the loser's next claim (a new transaction) takes the other job
    caught_up(b)
    job = queue.claim(b, "w1", 30)
    assert job is not None and job.id != claimed[0].id
    assert {job.payload, claimed[0].payload} == {"first", "second"}
    assert queue.claim(b, "w1", 30) is None


def test_a_finish_and_a_claim_of_different_jobs_merge_without_conflict(open_db):
    a, b = open_db.first, open_db()
    enqueue(a, "one", "two", "three")
    keys = sorted(queue.in_transaction(a, lambda root: list(root[queue.PENDING].keys()), write=False))
    # each claim from a given place: finishing the bucket's first key would conflict (BTree rule)
    job_a = queue.in_transaction(a, lambda root: queue.claim_in(root, "wa", 30, time.time(), start=keys[0]))
    caught_up(b)
    job_b = queue.in_transaction(b, lambda root: queue.claim_in(root, "wb", 30, time.time(), start=keys[1]))
    assert (job_a.id, job_b.id) == (keys[0], keys[1])
    caught_up(a)
    mb, mc = transaction.TransactionManager(), transaction.TransactionManager()
    cb, cc = b.open(transaction_manager=mb), a.open(transaction_manager=mc)
    try:
        mb.begin()
        mc.begin()
        assert queue.finish_in(cb.root(), job_b, record) is not None
        job_c = queue.claim_in(cc.root(), "wc", 30, time.time())
        assert job_c is not None and job_c.id == keys[2]
        mb.commit()
        mc.commit()  # same bucket, different keys: BTree conflict resolution merges the two
    finally:
        mb.abort(), mc.abort(), cb.close(), cc.close()
    summary = queue.in_transaction(a, queue.summary, write=False)
    assert (summary["pending"], summary["claimed"], summary["done"]) == (2, 2, 1)
    assert counts(a) == {job_b.payload: 1}


def test_a_killed_workers_job_is_taken_over_after_its_lease_and_done_once(open_db):
    a, b = open_db.first, open_db()
    enqueue(a, "job")
    caught_up(b)
    dead = queue.claim(a, "worker_00:111", lease=0.3)  # then "kill -9": it never finishes
    caught_up(b)
    assert queue.claim(b, "worker_01:222", lease=30) is None  # the lease still holds
    time.sleep(0.4)
    taken = queue.claim(b, "worker_01:222", lease=30)
    assert taken is not None and taken.id == dead.id and taken.attempts == 2
    done = queue.finish(b, taken, record)
    assert done is not None and done.worker == "worker_01:222"
    # had the first worker been only slow, its late finish is refused: the job stays done once
    caught_up(a)
    assert queue.finish(a, dead, record) is None
    assert counts(a) == {"job": 1}


def test_a_slow_worker_loses_a_race_with_the_worker_that_took_its_expired_lease(open_db):
    a, b = open_db.first, open_db()
    enqueue(a, "job")
    slow = queue.claim(a, "slow:1", lease=0.2)
    time.sleep(0.3)
    caught_up(b)
    ma, mb = transaction.TransactionManager(), transaction.TransactionManager()
    ca, cb = a.open(transaction_manager=ma), b.open(transaction_manager=mb)
    try:
        ma.begin()
        mb.begin()
        assert queue.finish_in(ca.root(), slow, record) is not None  # still ours as far as it can see
        assert queue.claim_in(cb.root(), "fast:2", 30, time.time()) is not None
        mb.commit()
        with pytest.raises(ConflictError):
            ma.commit()
    finally:
        ma.abort(), mb.abort(), ca.close(), cb.close()
    caught_up(a)
    assert queue.finish(a, slow, record) is None  # the retry sees the new owner
    assert counts(a) == {}


def test_a_failing_job_is_retried_then_recorded_failed(open_db):
    db = open_db.first
    enqueue(db, "bad")
    for attempt in (1, 2):
        job = queue.claim(db, "w", 30)
        assert job.attempts == attempt
        queue.in_transaction(db, lambda root: queue.give_up_in(root, job, "ValueError: bad", max_attempts=2))
    summary = queue.in_transaction(db, queue.summary, write=False)
    assert summary["pending"] == 0 and summary["recent_done"][0]["failed"] is True


def test_the_demo_queues_a_job_with_each_note_and_the_worker_counts_it_once(open_db, tmp_path):
    db = open_db.first
    note, _, _ = store.add_note(db, "three little words", "client1")
    settings = Settings("worker_00", Address("127.0.0.1", 1), tmp_path, "sitestack.demoapp.jobs:handle", time_limit=0,
                        max_jobs=1, min_runtime=0, lease=30, max_attempts=5, poll_interval=0.01, work_delay=0,
                        connect_timeout=1)
    assert Worker(settings, db, jobs.handle).run() == 0  # a planned exit after max-jobs
    assert queue.in_transaction(db, lambda root: jobs.stats(root, note.id), write=False) == (3, 1)

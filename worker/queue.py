"""A job queue in the ZODB that survives kill -9: claim with a lease, finish in one transaction.

Jobs wait in an OOBTree `jobs_pending` (id -> record tuple). A worker *claims* a job in one
transaction: it writes its name and a lease deadline into the job's record. It then does the work
and, in a second transaction, checks it still owns the job, records the handler's result, deletes
the job from `jobs_pending` and adds it to `jobs_done`. So:

- a worker killed mid-job committed only its claim: its work is discarded with its uncommitted
  transaction, and another worker takes the job when the lease runs out (attempts + 1);
- two workers claiming the same job both change the same key of the same bucket; the BTree's
  conflict resolution cannot merge that, so one commit fails with ConflictError and that worker
  takes another job; changes to different jobs merge, except that deleting a bucket's first key
  (finishing the oldest job) conflicts with any concurrent change to that bucket: the loser's
  whole transaction is retried (in_transaction), which costs time, never correctness;
- a worker whose lease ran out and was taken over finds someone else's name in the record (or
  conflicts with the new owner's commit) and drops its result: the job is recorded done once.

Job ids are random, not time-ordered, and a worker starts looking for a job at a random place in
the tree: a note's new job and the workers' claims then land on different keys (which the BTree's
conflict resolution merges) instead of all at the two ends of the tree. Jobs are therefore not
taken strictly in order; each is taken once its lease allows.

Records are tuples, not classes of ours: the ZEO server can resolve conflicts without importing
sitestack code.
"""
from __future__ import annotations

import heapq
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import ZODB
from BTrees.OOBTree import OOBTree

from sitestack.appserver import transactions

T = TypeVar("T")
PENDING = "jobs_pending"
DONE = "jobs_done"
ATTEMPTS = 10


@dataclass(frozen=True)
class Job:
    """One job: what to do (kind, payload) and who holds it until when."""

    id: str
    kind: str
    payload: str
    enqueued: float
    owner: str = ""
    lease_until: float = 0.0
    attempts: int = 0

    def record(self) -> tuple[str, str, float, str, float, int]:
        return (self.kind, self.payload, self.enqueued, self.owner, self.lease_until, self.attempts)

    @classmethod
    def from_record(cls, job_id: str, record: tuple[Any, ...]) -> "Job":
        return cls(job_id, *record)

    def claimable(self, now: float) -> bool:
        return not self.owner or self.lease_until <= now


@dataclass(frozen=True)
class Done:
    """A finished job: its result, who finished it, after how many attempts, and when."""

    id: str
    kind: str
    payload: str
    result: str
    worker: str
    attempts: int
    finished: float
    failed: bool = False

    def record(self) -> tuple[str, str, str, str, int, float, bool]:
        return (self.kind, self.payload, self.result, self.worker, self.attempts, self.finished, self.failed)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "payload": self.payload, "result": self.result,
                "worker": self.worker, "attempts": self.attempts, "finished": self.finished,
                "failed": self.failed}


def trees(root: Any) -> tuple[OOBTree, OOBTree]:
    """The pending and done trees, created on first use."""
    if PENDING not in root:
        root[PENDING] = OOBTree()
        root[DONE] = OOBTree()
    return root[PENDING], root[DONE]


def new_job_id() -> str:
    """Random, so concurrent enqueues and claims rarely touch the same keys; unique across processes."""
    return secrets.token_hex(10)


def enqueue(root: Any, kind: str, payload: str) -> str:
    """Add a job inside the caller's transaction (so it exists exactly when the caller's change does)."""
    pending, _ = trees(root)
    job = Job(new_job_id(), kind, payload, time.time())
    pending[job.id] = job.record()
    return job.id


def in_transaction(db: ZODB.DB, work: Callable[[Any], T], write: bool = True) -> T:
    """work(root) in a fresh connection with its own transaction manager; commits, retrying conflicts."""
    return transactions.in_transaction(db, work, write, attempts=ATTEMPTS, retry_reads=True)


def claim_in(root: Any, owner: str, lease: float, now: float, start: str | None = None) -> Job | None:
    """Claim a claimable job, looking from `start` (a random place by default) in this transaction
    (the caller commits)."""
    pending, _ = trees(root)
    start = secrets.token_hex(10) if start is None else start
    for job_id, record in itertools.chain(pending.items(min=start), pending.items(max=start, excludemax=True)):
        job = Job.from_record(job_id, record)
        if job.claimable(now):
            claimed = replace(job, owner=owner, lease_until=now + lease, attempts=job.attempts + 1)
            pending[job_id] = claimed.record()
            return claimed
    return None


def claim(db: ZODB.DB, owner: str, lease: float) -> Job | None:
    """Claim a job for `lease` seconds, or None when there is none to take."""
    return in_transaction(db, lambda root: claim_in(root, owner, lease, time.time()))


Handler = Callable[[Any, Job], str]


def finish_in(root: Any, job: Job, handler: Handler) -> Done | None:
    """Run handler and record the job done, in this transaction; None if the job is no longer ours."""
    pending, done = trees(root)
    record = pending.get(job.id)
    if record is None or Job.from_record(job.id, record).owner != job.owner:
        return None
    result = handler(root, job)
    finished = Done(job.id, job.kind, job.payload, result, job.owner, job.attempts, time.time())
    del pending[job.id]
    done[job.id] = finished.record()
    return finished


def finish(db: ZODB.DB, job: Job, handler: Handler) -> Done | None:
    """Do the job and mark it done in one transaction (retried whole on a conflict)."""
    return in_transaction(db, lambda root: finish_in(root, job, handler))


def give_up_in(root: Any, job: Job, error: str, max_attempts: int) -> None:
    """The handler failed: release the job for another try, or record it failed after max_attempts."""
    pending, done = trees(root)
    record = pending.get(job.id)
    if record is None or Job.from_record(job.id, record).owner != job.owner:
        return
    if job.attempts >= max_attempts:
        del pending[job.id]
        done[job.id] = Done(job.id, job.kind, job.payload, error, job.owner, job.attempts, time.time(),
                            failed=True).record()
    else:
        pending[job.id] = replace(job, owner="", lease_until=0.0).record()


def release(db: ZODB.DB, job: Job) -> None:
    """Hand a claimed job back at once (a worker asked to stop before it finished)."""

    def work(root: Any) -> None:
        pending, _ = trees(root)
        record = pending.get(job.id)
        if record is not None and Job.from_record(job.id, record).owner == job.owner:
            pending[job.id] = replace(job, owner="", lease_until=0.0, attempts=job.attempts - 1).record()

    in_transaction(db, work)


def summary(root: Any, limit: int = 50) -> dict[str, Any]:
    """Counts and the newest jobs, for the demo's /api/jobs."""
    if PENDING not in root:
        return {"pending": 0, "claimed": 0, "done": 0, "jobs": [], "recent_done": []}
    pending, done = root[PENDING], root[DONE]
    now = time.time()
    jobs = [Job.from_record(k, v) for k, v in pending.items()]
    recent = heapq.nlargest(limit, done.items(), key=lambda item: item[1][5])  # by finish time
    return {
        "pending": len(jobs),
        "claimed": sum(1 for j in jobs if not j.claimable(now)),
        "done": len(done),
        "jobs": [{"id": j.id, "kind": j.kind, "payload": j.payload, "owner": j.owner,
                  "lease_until": j.lease_until, "attempts": j.attempts} for j in jobs[:limit]],
        "recent_done": [Done(k, *v).as_json() for k, v in recent],
    }

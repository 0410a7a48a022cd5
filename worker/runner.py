"""One worker process: connect to ZEO, claim and do jobs, exit on purpose after a time or job limit."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import ZODB
from transaction.interfaces import TransientError

from sitestack.appserver.database import StartupError, open_database
from sitestack.appserver.settings import address, bounded
from sitestack.recipes.address import Address
from sitestack.worker import queue

log = logging.getLogger("worker")
PLANNED_EXIT = 0  # supervisor's default exitcodes: a planned exit is "expected", and is restarted


@dataclass(frozen=True)
class Settings:
    """Everything one worker needs."""

    name: str
    zeo: Address
    blob_cache: Path
    handler: str
    time_limit: float
    max_jobs: int
    min_runtime: float
    lease: float
    max_attempts: int
    poll_interval: float
    work_delay: float
    connect_timeout: float


def handler_name(text: str) -> str:
    module, sep, attribute = text.partition(":")
    if not sep or not module or not attribute:
        raise argparse.ArgumentTypeError(f"expected MODULE:CALLABLE such as sitestack.demoapp.jobs:handle (got {text!r})")
    return text


def parse_arguments(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="worker", description="Consume sitestack jobs from the ZODB over ZEO.")
    add = parser.add_argument
    add("--name", default=os.environ.get("SUPERVISOR_PROCESS_NAME", "worker"),
        help="worker name (default: supervisor's process name, e.g. worker_00)")
    add("--zeo", required=True, type=address, help="HOST:PORT of the ZEO server")
    add("--blob-cache", required=True, type=Path, help="directory under which each worker keeps its blob cache")
    add("--handler", default="sitestack.demoapp.jobs:handle", type=handler_name, help="MODULE:CALLABLE(root, job) -> str")
    add("--time-limit", default=3600.0, type=bounded(float, 0, 10**7),
        help="exit (status 0) after this many seconds; 0 = no limit")
    add("--max-jobs", default=1000, type=bounded(int, 0, 10**9), help="exit (status 0) after this many jobs; 0 = no limit")
    add("--min-runtime", default=2.0, type=bounded(float, 0, 3600),
        help="never exit on a limit before this many seconds (more than supervisor's startsecs)")
    add("--lease", default=30.0, type=bounded(float, 0.1, 86400),
        help="seconds a claimed job stays ours; after that another worker may take it")
    add("--max-attempts", default=5, type=bounded(int, 1, 1000), help="a job that fails this often is recorded failed")
    add("--poll-interval", default=0.5, type=bounded(float, 0.01, 60), help="seconds between looks at an empty queue")
    add("--work-delay", default=0.0, type=bounded(float, 0, 3600),
        help="seconds each job takes on top of its work (demos and tests of kill -9 mid-job)")
    add("--connect-timeout", default=60.0, type=bounded(float, 0, 86400), help="seconds to retry the ZEO server")
    args = parser.parse_args(argv)
    return Settings(args.name, args.zeo, args.blob_cache.absolute(), args.handler, args.time_limit, args.max_jobs,
                    args.min_runtime, args.lease, args.max_attempts, args.poll_interval, args.work_delay,
                    args.connect_timeout)


def load_handler(spec: str) -> queue.Handler:
    module, _, attribute = spec.partition(":")
    try:
        found = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise StartupError(f"cannot load handler {spec}: {error}") from None
    return found  # type: ignore[return-value]


class Worker:
    """The claim / work / finish loop, with its limits and a stop event set by SIGTERM."""

    def __init__(self, settings: Settings, db: ZODB.DB, handler: queue.Handler) -> None:
        self.settings, self.db, self.handler = settings, db, handler
        self.stop = threading.Event()
        # the name alone is not enough: a restarted worker_00 must not pass for the one that was killed
        self.owner = f"{settings.name}:{os.getpid()}"
        self.started = time.monotonic()
        self.done = 0

    def limit_reached(self) -> str | None:
        s = self.settings
        if s.max_jobs and self.done >= s.max_jobs:
            return f"{self.done} jobs done (max-jobs {s.max_jobs})"
        if s.time_limit and time.monotonic() - self.started >= s.time_limit:
            return f"time limit of {s.time_limit:g}s reached"
        return None

    def run(self) -> int:
        while not self.stop.is_set():
            reason = self.limit_reached()
            if reason:
                # an exit before supervisor's startsecs would count as a failed start
                self.stop.wait(max(0.0, self.started + self.settings.min_runtime - time.monotonic()))
                log.info("planned exit: %s; supervisor starts a fresh worker", reason)
                return PLANNED_EXIT
            try:
                job = queue.claim(self.db, self.owner, self.settings.lease)
            except TransientError as error:
                # contention or a ZEO server away for longer than the retries: never a reason to exit
                log.warning("could not claim a job (%s); trying again", type(error).__name__)
                self.stop.wait(self.settings.poll_interval)
                continue
            if job is None:
                self.stop.wait(self.settings.poll_interval)
                continue
            self.work(job)
        log.info("stopped after %d jobs", self.done)
        return 0

    def work(self, job: queue.Job) -> None:
        log.info("claimed job %s (%s %s, attempt %d)", job.id, job.kind, job.payload, job.attempts)
        if self.settings.work_delay and self.stop.wait(self.settings.work_delay):
            queue.release(self.db, job)
            log.info("released job %s: asked to stop", job.id)
            return
        try:
            finished = queue.finish(self.db, job, self.handler)
        except TransientError as error:
            # the job stays claimed by us; when the lease runs out, a worker (maybe this one) takes it
            log.warning("job %s not finished (%s); its lease will hand it on", job.id, type(error).__name__)
            return
        except Exception as error:  # noqa: BLE001 - a failing job must not kill the worker
            log.exception("job %s failed", job.id)
            try:
                queue.in_transaction(self.db, lambda root: queue.give_up_in(
                    root, job, f"{type(error).__name__}: {error}", self.settings.max_attempts))
            except TransientError:
                log.warning("job %s: could not record the failure; its lease will hand it on", job.id)
            return
        if finished is None:
            log.warning("job %s: lease lost to another worker; result dropped", job.id)
            return
        self.done += 1
        log.info("done job %s: %s", job.id, finished.result)


def main(argv: Sequence[str] | None = None) -> int:
    """bin/worker: 0 after a planned exit or SIGTERM, 1 when it cannot start, 2 for a bad argument."""
    settings = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s [{settings.name} pid {os.getpid()}] %(message)s")
    try:
        handler = load_handler(settings.handler)
        db = open_database(settings.zeo, settings.blob_cache / settings.name, settings.connect_timeout)
    except StartupError as error:
        print(f"worker {settings.name}: {error}", file=sys.stderr, flush=True)
        return 1
    worker = Worker(settings, db, handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received; stopping", signal.Signals(signum).name)
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return worker.run()
    finally:
        db.close()

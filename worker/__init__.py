"""worker: a pool process that consumes jobs queued in the ZODB (see sitestack.worker.queue).

    python -m sitestack.worker --zeo 127.0.0.1:8100 --blob-cache var/blobcache [--handler sitestack.demoapp.jobs:handle]
        [--time-limit 3600] [--max-jobs 1000] [--min-runtime 2] [--lease 30] [--max-attempts 5]
        [--poll-interval 0.5] [--work-delay 0] [--connect-timeout 60] [--name worker_00]

It exits with status 0 after --time-limit seconds or --max-jobs jobs (so memory it leaked is
returned; supervisor starts a fresh one), after SIGTERM (a job in progress is handed back), and
with 1 when it cannot start.
"""
from sitestack.worker.runner import main

__all__ = ["main"]

"""One way to run work against the ZODB: a fresh connection, its own transaction, conflicts retried."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import transaction
import ZODB
from ZODB.POSException import ConflictError

T = TypeVar("T")
MAX_PAUSE = 0.5


def in_transaction(db: ZODB.DB, work: Callable[[Any], T], write: bool, attempts: int,
                   retry_reads: bool) -> T:
    """work(root) in a fresh connection with its own transaction manager; commit when write.

    A ConflictError is retried up to `attempts` times (reads only when retry_reads), with a
    jittered back-off: the winner's invalidations must reach this client before a retry can read
    the state it has to build on.
    """
    for attempt in range(1, attempts + 1):
        manager = transaction.TransactionManager()
        connection = db.open(transaction_manager=manager)
        try:
            manager.begin()
            result = work(connection.root())
            if write:
                manager.commit()
            return result
        except ConflictError:
            if (not write and not retry_reads) or attempt == attempts:
                raise
            time.sleep(random.uniform(0, min(MAX_PAUSE, 0.01 * 2**attempt)))
        finally:
            manager.abort()
            connection.close()
    raise AssertionError("unreachable")

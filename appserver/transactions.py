"""One way to run work against the ZODB: a fresh connection, its own transaction, conflicts retried.

Two kinds of trouble are retried rather than handed to the user:
- a ConflictError (another transaction won): up to `attempts` times, with a jittered back-off;
- a lost ZEO connection (ClientDisconnected, e.g. the ZEO server restarting): the work waits for
  the connection to come back, for at most RECONNECT_WAIT seconds in all, then runs again.
A write retried after a disconnect may already have been committed (the connection can drop
between the server's commit and its answer): work that writes must therefore be idempotent,
as the demo's notes (keyed by the writer's unique id) and the worker queue (owner checks) are.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import transaction
import ZODB
from ZODB.Connection import resetCaches
from ZEO.Exceptions import ClientDisconnected
from ZODB.POSException import ConflictError

T = TypeVar("T")
MAX_PAUSE = 0.5
RECONNECT_WAIT = 30.0
log = logging.getLogger("appserver")


def wait_connected(db: ZODB.DB, deadline: float) -> bool:
    """Wait until the storage is connected again (True) or the deadline passed (False)."""
    is_connected = getattr(db.storage, "is_connected", None)
    while is_connected is not None and not is_connected():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def attempt(db: ZODB.DB, work: Callable[[Any], T], write: bool) -> T:
    """work(root) once, in a fresh connection with its own transaction manager."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        manager.begin()
        result = work(connection.root())
        if write:
            manager.commit()
        return result
    except ClientDisconnected:
        # A commit cut by the lost server: ZODB's tpc_abort fails at the storage before it disowns
        # the objects this commit created, so this connection's cache keeps them under oids that the
        # restarted server hands out again ("A different object already has the same oid" on a
        # later write). Every connection of the process starts again with a fresh cache.
        resetCaches()
        raise
    finally:
        try:
            manager.abort()
        except ClientDisconnected:  # nothing to undo on a server we no longer reach
            pass
        connection.close()


def in_transaction(db: ZODB.DB, work: Callable[[Any], T], write: bool, attempts: int,
                   retry_reads: bool) -> T:
    """work(root) in a fresh connection with its own transaction manager; commit when write.

    A ConflictError is retried up to `attempts` times (reads only when retry_reads), with a
    jittered back-off: the winner's invalidations must reach this client before a retry can read
    the state it has to build on. A ClientDisconnected is retried once the connection is back,
    within RECONNECT_WAIT seconds.
    """
    conflicts = 0
    reconnect_deadline: float | None = None
    while True:
        try:
            return attempt(db, work, write)
        except ConflictError:
            conflicts += 1
            if (not write and not retry_reads) or conflicts >= attempts:
                raise
            time.sleep(random.uniform(0, min(MAX_PAUSE, 0.01 * 2**conflicts)))
        except ClientDisconnected:
            if reconnect_deadline is None:
                reconnect_deadline = time.monotonic() + RECONNECT_WAIT
            log.warning("ZEO connection lost; waiting for it to come back, then running the work again")
            if time.monotonic() >= reconnect_deadline or not wait_connected(db, reconnect_deadline):
                raise
            time.sleep(0.05)

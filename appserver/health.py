"""Health of a client: can it read from the database right now?"""
from __future__ import annotations

import threading
import time

import transaction
import ZODB

# A client that lost its ZEO connection less than this long ago still says it is healthy: its
# requests wait for the reconnect (sitestack.appserver.transactions) instead of every client leaving
# haproxy's rotation at once, which would answer 503 while the ZEO server restarts.
RECONNECT_GRACE = 15.0


def database_problem(db: ZODB.DB) -> str | None:
    """Why the database cannot serve reads now, or None after a real read.

    The connection check comes first so a dead ZEO server answers at once instead of
    making the read wait for a reconnect. The read opens a fresh connection (its own
    transaction manager), loads the root, and makes one round trip to the server.
    """
    storage = db.storage
    is_connected = getattr(storage, "is_connected", None)
    if is_connected is not None and not is_connected():
        return "not connected to the ZEO server"
    manager = transaction.TransactionManager()
    try:
        connection = db.open(transaction_manager=manager)
    except Exception as error:  # noqa: BLE001 - e.g. the database was closed
        return f"cannot open a database connection: {error}"
    try:
        manager.begin()
        len(connection.root())
        server_status = getattr(storage, "server_status", None)
        if server_status is not None:
            server_status()
    except Exception as error:  # noqa: BLE001 - any failure to read is the answer
        return f"database read failed: {type(error).__name__}: {error}".rstrip(": ")
    finally:
        manager.abort()
        connection.close()
    return None


class DatabaseHealth:
    """database_problem with a time limit, so a frozen ZEO server cannot hang health checks.

    Each check runs in a daemon thread. One that overruns keeps waiting there (and cannot
    keep the process from exiting); until it returns, further checks answer at once
    instead of piling up more threads behind it.
    """

    def __init__(self, db: ZODB.DB, timeout: float, grace: float = RECONNECT_GRACE) -> None:
        self.db, self.timeout, self.grace = db, timeout, grace
        self._running: threading.Thread | None = None
        self._lock = threading.Lock()
        self._disconnected_since: float | None = None

    def reconnecting(self) -> str | None:
        """None while connected or within the grace after losing the connection; else the problem."""
        is_connected = getattr(self.db.storage, "is_connected", None)
        if is_connected is None or is_connected():
            self._disconnected_since = None
            return None
        now = time.monotonic()
        if self._disconnected_since is None:
            self._disconnected_since = now
        away = now - self._disconnected_since
        return None if away < self.grace else f"not connected to the ZEO server for {away:.0f}s"

    def problem(self) -> str | None:
        """Why the client is unhealthy, or None."""
        is_connected = getattr(self.db.storage, "is_connected", None)
        if is_connected is not None and not is_connected():
            return self.reconnecting()
        self._disconnected_since = None
        answers: list[str | None] = []
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return "an earlier health check is still waiting for the database"
            thread = threading.Thread(
                target=lambda: answers.append(database_problem(self.db)), name="health", daemon=True
            )
            self._running = thread
            thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            return f"database read took longer than {self.timeout:g}s"
        return answers[0] if answers else "health check failed unexpectedly"

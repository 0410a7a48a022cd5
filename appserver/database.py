"""Opening the ZODB over ZEO, retrying while the ZEO server is not up yet.

supervisor starts the ZEO server first (lower priority) but does not wait for it to
listen, so a client started right after it usually finds nothing on the port for a
moment. Each failed attempt is one log line; giving up is one StartupError.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import ZODB
from ZEO.ClientStorage import ClientStorage
from ZEO.Exceptions import ClientDisconnected
from ZODB.POSException import ConflictError

from sitestack.recipes.address import Address

log = logging.getLogger("appserver")
FIRST_DELAY = 0.1
MAX_DELAY = 1.0
PROBE_TIMEOUT = 2.0
CALL_WAIT = 30.0


class StartupError(Exception):
    """The client cannot start; the message is the one line the user sees."""


def probe(address: Address, timeout: float) -> str | None:
    """Why nothing accepts TCP connections on address, or None if something does."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return None
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__


class ReconnectingStorage(ClientStorage):  # type: ignore[misc]
    """ClientStorage that forgets the object ids it pre-fetched when it (re)connects.

    ZEO hands out new oids in batches that the client keeps; a ZEO server that restarts counts on
    from the last oid *committed*, so the unused ids of the old batch are handed out again, to this
    client or to another. Used anyway, they collide with new objects that got the same ids ("A
    different object already has the same oid", or another client's object overwritten).
    """

    def notify_connected(self, conn: object, info: object) -> None:
        self._oids: list[bytes] = []  # the next new_oid asks the server it is connected to now
        super().notify_connected(conn, info)


def open_storage(address: Address, blob_cache: Path, wait: float) -> ClientStorage:
    """A connected ClientStorage with a client-local blob cache; ClientDisconnected if not in time."""
    storage = ReconnectingStorage(
        (address.host, address.port),
        blob_dir=str(blob_cache),
        shared_blob_dir=False,
        # How long a request waits for a lost ZEO connection to come back before it fails.
        wait_timeout=CALL_WAIT,
        wait=False,
    )
    deadline = time.monotonic() + wait
    while not storage.is_connected():
        if time.monotonic() >= deadline:
            storage.close()
            raise ClientDisconnected(f"no handshake within {wait:.1f}s")
        time.sleep(0.02)
    return storage


def try_open(address: Address, blob_cache: Path, wait: float) -> ZODB.DB | str:
    """The database, or why this attempt failed."""
    problem = probe(address, min(PROBE_TIMEOUT, wait))
    if problem:
        return problem
    try:
        storage = open_storage(address, blob_cache, max(wait, 1.0))
    except ClientDisconnected as error:
        return f"ZEO handshake failed: {error}"
    try:
        # DB() creates the root object on an empty storage; two clients starting at
        # once on a new database can conflict there, and the next attempt then finds it.
        return ZODB.DB(storage)
    except ConflictError:
        storage.close()
        return "conflict while creating the database root (another client did it first)"


def open_database(address: Address, blob_cache: Path, timeout: float) -> ZODB.DB:
    """A ZODB.DB over ZEO, retrying with a growing delay for up to timeout seconds."""
    os.makedirs(blob_cache, mode=0o700, exist_ok=True)
    start = time.monotonic()
    deadline = start + timeout
    delay, attempt = FIRST_DELAY, 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        result = try_open(address, blob_cache, max(remaining, 0.1))
        if not isinstance(result, str):
            log.info("connected to the ZEO server at %s (attempt %d, %.1fs)",
                     address, attempt, time.monotonic() - start)
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StartupError(
                f"could not connect to the ZEO server at {address} within {timeout:g}s "
                f"({attempt} attempts; last: {result})"
            )
        pause = min(delay, remaining)
        log.warning("ZEO server at %s not ready (attempt %d: %s); retrying in %.1fs",
                    address, attempt, result, pause)
        time.sleep(pause)
        delay = min(delay * 2, MAX_DELAY)

"""bin/zeoserver: ZEO's runzeo, with a transaction timeout that releases the commit lock.

A client holds the storage's commit lock from its vote to its finish, normally for milliseconds. When
it goes silent in between -- its host cut off the network, or the process stopped (SIGSTOP) -- every
other writer of the site waits behind it: for as long as a network cut lasts, or until the kernel gives
up on the connection (about 15 minutes of retransmissions). zeo.conf's `transaction-timeout` is ZEO's
answer, but in ZEO 6 it does not work: its timeout thread calls the connection's `close()`, which marks
the connection closed before `connection_lost` runs, and `connection_lost` tells the client's
ZEOStorage it was disconnected only for a connection that is not marked closed -- so the transaction is
never aborted and the lock is held for good (every later writer hangs).

This runner is runzeo with one difference: its server's connections, when closed while their client has
a transaction in progress, first abort that transaction the way a lost connection does
(`notify_disconnected`: abort, release the lock or leave the queue, forget the connection). ZEO takes the
class of its acceptor as a constructor argument; nothing of ZEO's is patched.
tests/unit/test_zeoserver.py fails if the ZEO internals this relies on change.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any

from ZEO import runzeo
from ZEO.asyncio import server
from ZEO.StorageServer import StorageServer

logger = logging.getLogger("sitestack.zeoserver")


class ServerProtocol(server.ServerProtocol):  # type: ignore[misc]
    """A connection whose close() aborts its client's transaction first, as a lost connection does."""

    def close(self) -> None:
        storage = self.zeo_storage
        if not self.closed and storage is not None and storage.transaction is not None:
            logger.warning("closing the connection of %s during its transaction: aborting it (%s the "
                           "commit lock)", self.addr, "releasing" if storage.locked else "not holding")
            storage.notify_disconnected()
        super().close()


class Acceptor(server.Acceptor):  # type: ignore[misc]
    """ZEO's acceptor, making the connections above."""

    def factory(self) -> ServerProtocol:
        handler = self.storage_server.create_client_handler()
        return ServerProtocol(self.event_loop, self.addr, handler, self.msgpack)


class ZEOServer(runzeo.ZEOServer):  # type: ignore[misc]
    def create_server(self) -> None:
        """runzeo.create_server's StorageServer, with the acceptor above."""
        options = self.options
        self.server = StorageServer(
            options.address,
            self.storages,
            read_only=options.read_only,
            client_conflict_resolution=options.client_conflict_resolution,
            msgpack=(options.msgpack if isinstance(options.msgpack, bool) else os.environ.get("ZEO_MSGPACK")),
            invalidation_queue_size=options.invalidation_queue_size,
            invalidation_age=options.invalidation_age,
            transaction_timeout=options.transaction_timeout,
            ssl=options.ssl,
            Acceptor=Acceptor,
        )


def main(args: list[str] | None = None) -> None:
    options: Any = runzeo.ZEOOptions()
    options.realize(args if args is not None else sys.argv[1:])
    ZEOServer(options).main()


if __name__ == "__main__":
    main()

"""bin/zeoserver: ZEO's runzeo, with a transaction timeout that releases the commit lock.

A client holds the storage's commit lock from its vote to its finish, normally for milliseconds. When
it goes silent in between -- its host cut off the network, or the process stopped (SIGSTOP) -- every
other writer of the site waits behind it: for as long as a network cut lasts, or until the kernel gives
up on the connection (about 15 minutes of retransmissions). zeo.conf's `transaction-timeout` is ZEO's
answer, but in ZEO 6 it does not work: its timeout thread calls the connection's `close()`, which marks
the connection closed before `connection_lost` runs, and `connection_lost` tells the client's
ZEOStorage it was disconnected only for a connection that is not marked closed -- so the transaction is
never aborted and the lock is held for good (every later writer hangs).

This runner is runzeo with two differences:

- its server's connections, when closed while their client has a transaction in progress, first abort
  that transaction the way a lost connection does (`notify_disconnected`: abort, release the lock or
  leave the queue, forget the connection);
- with `--dead-client-timeout SECONDS` (the part passes [zeoserver] dead-client-timeout), its TCP
  connections fail when their client's host stops answering for that long (keepalive probes every
  second, TCP_USER_TIMEOUT). A host cut off the network usually has several connections in the lock's
  queue (its clients and workers); the transaction timeout would drop them one after another, each
  after holding the lock for its full timeout, while this drops them all at once.

ZEO takes the class of its acceptor as a constructor argument; nothing of ZEO's is patched.
tests/unit/test_zeoserver.py fails if the ZEO internals this relies on change.

Usage: python -m sitestack.zeoserver -C zeo.conf [--dead-client-timeout SECONDS] [runzeo's options]
"""
from __future__ import annotations

import functools
import logging
import os
import socket
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
    """ZEO's acceptor, making the connections above; with dead_client_timeout, its TCP connections
    (which inherit the listening socket's options) fail when their client's host stops answering."""

    def __init__(self, storage_server: Any, addr: Any, ssl: Any, msgpack: Any, dead_client_timeout: int = 0) -> None:
        super().__init__(storage_server, addr, ssl, msgpack)
        if dead_client_timeout:
            for listening in self.server.sockets:
                if listening.family in (socket.AF_INET, socket.AF_INET6):
                    detect_dead_peers(listening, dead_client_timeout)

    def factory(self) -> ServerProtocol:
        handler = self.storage_server.create_client_handler()
        return ServerProtocol(self.event_loop, self.addr, handler, self.msgpack)


class ZEOServer(runzeo.ZEOServer):  # type: ignore[misc]
    def __init__(self, options: Any, dead_client_timeout: int = 0) -> None:
        super().__init__(options)
        self.dead_client_timeout = dead_client_timeout

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
            Acceptor=functools.partial(Acceptor, dead_client_timeout=self.dead_client_timeout),
        )


def detect_dead_peers(sock: Any, seconds: int) -> None:
    """Keepalive probes after a second of silence, and TCP_USER_TIMEOUT: a connection whose peer has
    not acknowledged data or probes for `seconds` fails (ETIMEDOUT), and ZEO aborts its transaction."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, seconds)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, seconds * 1000)


def split_arguments(args: list[str]) -> tuple[int, list[str]]:
    """(--dead-client-timeout SECONDS, or 0; runzeo's own arguments)."""
    rest, timeout = list(args), 0
    if "--dead-client-timeout" in rest:
        at = rest.index("--dead-client-timeout")
        if at + 1 >= len(rest) or not rest[at + 1].isdigit():
            raise SystemExit("sitestack.zeoserver: --dead-client-timeout expects whole seconds")
        timeout = int(rest[at + 1])
        del rest[at:at + 2]
    return timeout, rest


def main(args: list[str] | None = None) -> None:
    dead_client_timeout, arguments = split_arguments(args if args is not None else sys.argv[1:])
    options: Any = runzeo.ZEOOptions()
    options.realize(arguments)
    ZEOServer(options, dead_client_timeout).main()


if __name__ == "__main__":
    main()

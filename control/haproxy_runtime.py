"""haproxy's runtime API on its admin socket (a unix socket, 0600, never on the network).

    socket = RuntimeSocket("var/haproxy/admin.sock", "clients")
    socket.servers()["client1"].status        # 'UP', 'DRAIN', 'MAINT', 'DOWN 1/2', ...
    socket.set("client1", "state drain")      # CommandRefused with haproxy's answer if it refuses

One command per connection (haproxy's non-interactive mode). `parse_stat` is pure.
"""
from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerState:
    """One server line of haproxy's `show stat`."""

    name: str
    status: str  # UP, UP 1/2, DOWN, DOWN 1/2, DRAIN, MAINT, NOLB, no check
    sessions: int
    throttle: int | None = None  # percent while in slow start, else None
    last_change: int | None = None  # seconds since its status last changed

    @property
    def in_rotation(self) -> bool:
        return self.status.startswith("UP") or self.status == "no check"

    @property
    def down(self) -> bool:
        return self.status.startswith("DOWN") or "(via" in self.status


class CommandRefused(Exception):
    """haproxy answered a command with an error; the message quotes the command and the answer."""


def parse_stat(text: str, backend: str) -> dict[str, ServerState]:
    """haproxy's `show stat` CSV: the servers of one backend by name."""
    lines = text.lstrip("# ").splitlines()
    servers = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND", None):
            throttle, lastchg = row.get("throttle") or "", row.get("lastchg") or ""
            servers[row["svname"]] = ServerState(row["svname"], row.get("status", ""), int(row.get("scur") or 0),
                                                 int(throttle) if throttle.isdigit() else None,
                                                 int(lastchg) if lastchg.isdigit() else None)
    return servers


class RuntimeSocket:
    """haproxy's runtime API on its admin socket (one command per connection)."""

    def __init__(self, path: str, backend: str, timeout: float = 5.0) -> None:
        self.path, self.backend, self.timeout = path, backend, timeout

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def servers(self) -> dict[str, ServerState]:
        return parse_stat(self.command("show stat"), self.backend)

    def set(self, server: str, what: str) -> None:
        """`set server backend/server <what>`, e.g. `state drain`, `health up`."""
        answer = self.command(f"set server {self.backend}/{server} {what}").strip()
        if answer:
            raise CommandRefused(f"haproxy refused 'set server {self.backend}/{server} {what}': {answer}")

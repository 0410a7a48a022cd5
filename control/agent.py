"""haproxy's agent-check for the app clients of one host: bin/sitestack-agent, run by supervisord.

haproxy connects to the agent every agent-inter, sends the client's name (`agent-send "client1\\n"`)
and reads one word back: `ready`, `drain` or `maint`, which it applies to that server. The state
of each client lives in var/agent/state.json (written atomically by the restart routine on this host,
sitestack.control.agent_drain); a missing entry is `ready`. So an app host drains its own clients, and nothing
on the network can change the balancer: the agent only answers.

    client1\\n          -> "ready\\n"   (haproxy's question; answered with the client's state)
    seen client1\\n     -> "drain 1733470000.123\\n"  (the state last given to the front, and when)

Only questions from the front's addresses (`--front`) count as "seen": the restart routine asks
`seen` to learn that haproxy has taken a new state, instead of sleeping for agent-inter.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sitestack.recipes import convert

STATES = ("ready", "drain", "maint")
READY = "ready"


class StateFile:
    """var/agent/state.json: {client: state}; written whole and atomically (rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items() if v in STATES} if isinstance(data, dict) else {}

    def state(self, client: str) -> str:
        return self.read().get(client, READY)

    def set(self, client: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"agent state must be one of {', '.join(STATES)} (got {state!r})")
        data = self.read()
        data[client] = state
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


class Agent:
    """The answers: a client's state, and what the front was last told about it."""

    def __init__(self, state: StateFile, clients: Sequence[str], front: Sequence[str]) -> None:
        self.state, self.clients, self.front = state, frozenset(clients), frozenset(front)
        self.seen: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def answer(self, line: str, peer: str) -> str:
        """The reply to one line from peer (an IP address); empty for a question it cannot answer."""
        words = line.split()
        if len(words) == 1 and words[0] in self.clients:
            state = self.state.state(words[0])
            if peer in self.front:
                with self.lock:
                    self.seen[words[0]] = (state, time.time())
            return state
        if len(words) == 2 and words[0] == "seen" and words[1] in self.clients:
            with self.lock:
                state, when = self.seen.get(words[1], ("none", 0.0))
            return f"{state} {when:.3f}"
        return ""


class Handler(socketserver.StreamRequestHandler):
    timeout = 2.0  # a peer that sends nothing is dropped; haproxy sends its line at once

    def handle(self) -> None:
        agent: Agent = self.server.agent  # type: ignore[attr-defined]
        try:
            line = self.rfile.readline(256).decode("ascii", "replace")
        except OSError:
            return
        reply = agent.answer(line, self.client_address[0])
        if reply:
            self.wfile.write(reply.encode("ascii") + b"\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], agent: Agent) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.agent = agent


def ask(address: tuple[str, int], line: str, timeout: float = 2.0) -> str:
    """One question to an agent; its reply without the newline ('' when it gave none)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(line.encode("ascii") + b"\n")
        chunks = []
        while chunk := sock.recv(256):
            chunks.append(chunk)
    return b"".join(chunks).decode("ascii", "replace").strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sitestack-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port (the host's private address)")
    parser.add_argument("--state", required=True, type=Path, help="the state file (var/agent/state.json)")
    parser.add_argument("--clients", required=True, help="the clients it answers for, comma separated")
    parser.add_argument("--front", required=True, help="the front's addresses, comma separated")
    args = parser.parse_args(argv)
    agent = Agent(StateFile(args.state), args.clients.split(","), args.front.split(","))
    listen = convert.address(args.listen)
    with Server((listen.host, listen.port), agent) as server:
        print(f"sitestack-agent: answering for {args.clients} on {args.listen}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

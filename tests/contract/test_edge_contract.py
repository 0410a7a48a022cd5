"""The edge (haproxy in front of varnish): haproxy accepts every generated config, and a real edge
replays exactly what is safe to replay: a refused connection is tried again until the backend listens,
a request the backend dropped unanswered is sent again when it is a GET or carries an Idempotency-Key,
never a plain POST; a PURGE passes only from the allowed addresses."""

from __future__ import annotations

import functools
import http.client
import socket
import threading
import time
from pathlib import Path

import pytest
from buildout_harness import install, site_buildout
from front_stack import assert_haproxy_accepts, request, start, site  # noqa: F401 - site: a pytest fixture
from support import free_port, http_get, kill_pids, poll_for, tail

from sitestack.recipes.edge import Recipe

VARIANTS = {
    "default": {},
    "tuned": {"host": "0.0.0.0", "retries": "0", "timeout-connect": "1s", "timeout-server": "2m",
              "global-maxconn": "100", "threads": "2", "request-log": "ring", "purge-allow": "10.0.0.0/8"},
    "ipv6": {"host": "::1", "backend": "[::1]:18060", "request-log": "all"},
}


class DroppingBackend:
    """A loopback HTTP/1.1 server that hangs up on its first `drops` requests without answering
    (as varnish's cache process does when it is killed), then answers 200 and counts what it got."""

    def __init__(self, port: int, drops: int) -> None:
        self.port, self.drops = port, drops
        self.received: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := connection.recv(65536)):
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length and (chunk := connection.recv(65536)):
                    body += chunk
                self.received.append(head.split(b"\r\n")[0].decode())
                if self.drops > 0:
                    self.drops -= 1
                    continue  # closed unanswered
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")

    def close(self) -> None:
        self.listener.close()



@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_haproxy_accepts_the_config(site: Path, variant: str) -> None:
    buildout = site_buildout(site, edge={"backend": "127.0.0.1:18060", **VARIANTS[variant]})
    recipe = Recipe(buildout, "edge", buildout["edge"])
    install(recipe)
    assert_haproxy_accepts(recipe.options["edge-command"], recipe.options["config"])


def edge_for(site: Path, backend: int, pids: list[int]) -> tuple[int, functools.partial[str]]:
    """A real edge (haproxy -W -db) in front of 127.0.0.1:backend; its port and its log."""
    port = free_port()
    buildout = site_buildout(site, edge={"backend": f"127.0.0.1:{backend}", "port": str(port)})
    options = buildout["edge"]
    install(Recipe(buildout, "edge", options))
    log = site / "edge.log"
    pids.append(start(options["edge-command"], log, cwd=options["edge-directory"]).pid)
    explain = functools.partial(tail, log)
    poll_for(lambda: http_get(f"http://127.0.0.1:{port}/edge-health")[0] == 200, 10, "the edge's monitor", explain)
    return port, explain


def test_a_refused_connection_is_tried_again_until_the_backend_listens(site: Path) -> None:
    backend, pids = free_port(), []
    try:
        port, explain = edge_for(site, backend, pids)
        answers: list[int] = []
        thread = threading.Thread(target=lambda: answers.append(request("127.0.0.1", port, "POST", "/notes",
                                                                        body=b"text=x")[0]))
        started = time.monotonic()
        thread.start()
        time.sleep(1.5)  # varnish between two cache processes: nothing listens
        server = DroppingBackend(backend, 0)
        thread.join(10)
        took = time.monotonic() - started
        server.close()
        # never sent before, so even a POST without an Idempotency-Key is safe to send now
        assert answers == [200], explain()
        assert server.received == ["POST /notes HTTP/1.1"]
        assert 1.5 <= took < 3, took
    finally:
        kill_pids(pids)


@pytest.mark.parametrize(("method", "headers", "status", "sent"), [
    ("GET", {}, 200, 2),
    ("POST", {"Idempotency-Key": "k1"}, 200, 2),
    ("POST", {}, 502, 1),
])
def test_a_dropped_request_is_sent_again_only_when_that_is_safe(site: Path, method: str, headers: dict[str, str],
                                                                  status: int, sent: int) -> None:
    backend, pids = free_port(), []
    server = DroppingBackend(backend, 1)
    try:
        port, explain = edge_for(site, backend, pids)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(method, "/notes", body=b"text=x" if method == "POST" else None, headers=headers)
        assert connection.getresponse().status == status, explain()
        connection.close()
        assert len(server.received) == sent, server.received
    finally:
        server.close()
        kill_pids(pids)


def test_purge_passes_only_from_the_allowed_addresses(site: Path) -> None:
    backend, pids = free_port(), []
    server = DroppingBackend(backend, 0)
    try:
        port, explain = edge_for(site, backend, pids)
        assert request("127.0.0.1", port, "PURGE", "/page", source="127.0.0.2")[0] == 403, explain()
        assert server.received == []
        assert request("127.0.0.1", port, "PURGE", "/page")[0] == 200, explain()
        assert server.received == ["PURGE /page HTTP/1.1"]
    finally:
        server.close()
        kill_pids(pids)

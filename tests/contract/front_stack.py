"""Helpers to run the real front (haproxy, varnishd) against tiny loopback HTTP servers."""

from __future__ import annotations

import csv
import http.client
import io
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import pytest
from support import free_port, open_directory


class QuietServer(ThreadingHTTPServer):
    """Health checks hang up as soon as they have the status line; that is not an error here."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class Backend:
    """A loopback HTTP server standing in for an app client: /health is 200, pages name it."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.hits = 0
        self.server: QuietServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                if self.path != "/health":
                    backend.hits += 1
                if self.path.startswith("/slow"):
                    time.sleep(0.4)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = b"ok\n" if self.path == "/health" else f"{backend.name} {self.command} {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Backend", backend.name)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def start(command: str, log: Path, cwd: str | None = None) -> subprocess.Popen[bytes]:
    """Start a published command line; a thread reaps it, so a stopped one does not linger as a zombie."""
    handle: IO[bytes] = open(log, "ab")  # noqa: SIM115 - closed by the reaper thread
    process = subprocess.Popen(shlex.split(command), stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)

    def reap() -> None:
        process.wait()
        handle.close()

    threading.Thread(target=reap, daemon=True).start()
    return process


def haproxy_command(socket_path: str, command: str) -> str:
    """One command on haproxy's admin socket; the answer is everything until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(socket_path)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_status(socket_path: str, backend: str = "clients") -> dict[str, str]:
    """{server name: UP/DOWN/...} for one backend, from `show stat`."""
    text = haproxy_command(socket_path, "show stat").lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    return {
        row["svname"]: row["status"]
        for row in rows
        if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def request(
    url_host: str, port: int, method: str, path: str, source: str | None = None, body: bytes | None = None
) -> tuple[int, http.client.HTTPMessage, str]:
    """(status, headers, body) of one request, optionally from a given loopback source address.

    Header names are case-insensitive in the answer (haproxy sends them lower-cased).
    """
    connection = http.client.HTTPConnection(url_host, port, timeout=10, source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def assert_haproxy_accepts(command: str, config: str) -> None:
    """`haproxy -c` of a generated config, run by the binary its published command names: valid,
    without a warning or an alert."""
    result = subprocess.run([shlex.split(command)[0], "-c", "-f", config], capture_output=True, text=True,
                            timeout=30, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "ALERT" not in output, output


@pytest.fixture
def site() -> Iterator[Path]:
    """A site directory every user may traverse (varnishd compiles its VCL as user varnish), removed after."""
    with open_directory() as path:
        yield path

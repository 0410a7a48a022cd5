"""Running programs on loopback, for the tests and the benchmarks alike: free ports, polling that says
what it last saw, HTTP probes, stopping processes by PID, log tails."""
from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sitestack.control.processes import living

T = TypeVar("T")
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now, never handed out twice in one test run."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def poll_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
    interval: float = 0.05,
) -> T:
    """Call check until it returns something truthy; on timeout, say what was last seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as error:  # noqa: BLE001 - we report it below
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}\n{explain()}")


def http_get(url: str, timeout: float = 5.0, data: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers) of a request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace"), dict(error.headers)


def pid_alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped) counts as gone, and is reaped
    when it is our own child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return living(pid)


def kill_pids(pids: list[int], timeout: float = 10.0) -> None:
    """Stop processes by PID: TERM, wait, then KILL what is left."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def tail(path: str | Path, lines: int = 30) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"({path}: {error})"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def free_port_range(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive free ports (for client1..clientN)."""
    for _ in range(200):
        first = free_port(host)
        if first + count > 65535:
            continue
        candidates = range(first + 1, first + count)
        if all(_is_free(p, host) and p not in _handed_out for p in candidates):
            _handed_out.update(candidates)
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _is_free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True

"""A real ZEO server for tests: sitestack.zeoserver (bin/zeoserver's runner) in a subprocess, configured by
the zeoserver part's template."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from sitestack.recipes.zeoserver import LockTimeouts, ZeoServer, render_zeo_conf
from support import free_port, poll_for, tail


def accepts(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def server_connections(port: int) -> list[str]:
    """The established TCP connections on local port `port`, one line each with its timer (`ss -o`)."""
    out = subprocess.run(["ss", "-tonH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def stop_child(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """Stop a child by its PID and reap it (support.kill_pids would wait on the zombie)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    return process.wait(timeout)


class ZeoProcess:
    """sitestack.zeoserver with a FileStorage and blobs under directory, on a loopback port."""

    def __init__(self, directory: Path, port: int | None = None, transaction_timeout: int = 5,
                 dead_client_timeout: int = 4) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.timeouts = LockTimeouts(transaction_timeout, dead_client_timeout)
        self.log = directory / "zeo.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> "ZeoProcess":
        zeo = ZeoServer("127.0.0.1", self.port, str(self.directory / "Data.fs"), str(self.directory / "blobs"),
                        timeouts=self.timeouts)
        conf = self.directory / "zeo.conf"
        conf.write_text(render_zeo_conf("zeoserver", zeo))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sitestack.zeoserver", "-C", str(conf), *self.timeouts.dead_client_arguments()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.directory,
            )
        if wait:
            poll_for(lambda: accepts("127.0.0.1", self.port), 20, f"ZEO on {self.address}",
                     lambda: tail(self.log))
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 10s."""
        if self.process is not None:
            stop_child(self.process)
            self.process = None

    def kill(self) -> None:
        """kill -9: the server vanishes without closing anything."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

"""The two stacks the side-by-side benchmark compares: how each is built, started, stopped and read.

Standalone on purpose (no imports from tests/): a benchmark must not depend on test helpers.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.loopback import free_port, free_port_range
from benchmarks.site import copy_project
from sitestack.control.processes import cpu_seconds, descendants, living, rss  # the watchdog's own process questions

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
CLASSIC_PARTS = "zeoserver client1 client2 haproxy-conf varnish-configuration varnish-vcl-fix varnish supervisor"


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, the first two of them consecutive (client1, client2)."""
    first = free_port_range(2)
    return [first, first + 1, *(free_port() for _ in range(count - 2))]


def run(command: list[str], cwd: Path, timeout: float = 900) -> float:
    """Run a command; its wall time in seconds. A failure raises with the output's tail."""
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return time.monotonic() - started


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


@dataclass
class Built:
    """A built stack: where it is, its ports, the pages to load and the buildout command that rebuilds it."""

    kind: str  # "classic" or "sitestack"
    path: Path
    rebuild: list[str]
    varnish: int
    haproxy: int
    client1: int
    uncached: str  # path of the uncached page
    listeners: tuple[str, ...]  # supervisor names of the event listeners (memory figure)
    pid: int = 0
    programs: dict[str, int] = field(default_factory=dict)

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"

    @property
    def pidfile(self) -> Path:
        return self.path / "var" / "supervisord.pid"

    def start(self, timeout: float = 60) -> float:
        """bin/supervisord; seconds until the first 200 of the uncached page through varnish."""
        started = time.monotonic()
        subprocess.run([str(self.path / "bin" / "supervisord")], cwd=self.path, check=True, timeout=30)
        url = self.url(self.varnish, self.uncached)
        while status(url) != 200:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{self.kind}: no 200 from {url} after {timeout}s")
            time.sleep(0.02)
        first = time.monotonic() - started
        while not self.pidfile.exists():
            time.sleep(0.05)
        self.pid = int(self.pidfile.read_text().split()[0])
        self.programs = self.wait_running(started + timeout)
        return first

    def wait_running(self, deadline: float) -> dict[str, int]:
        """{program name: pid} once supervisorctl says every program is RUNNING."""
        while True:
            result = subprocess.run([str(self.path / "bin" / "supervisorctl"), "status"], cwd=self.path,
                                    capture_output=True, text=True, timeout=30)
            rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
            if rows and all(len(r) > 3 and r[1] == "RUNNING" for r in rows):
                return {r[0].split(":")[-1]: int(r[3].rstrip(",")) for r in rows}
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind}: not every program RUNNING:\n{result.stdout}")
            time.sleep(0.2)

    def stop(self) -> None:
        """supervisorctl shutdown, then SIGKILL by PID to anything of the tree still there after 30 s."""
        if not self.pid:
            return
        tree = [self.pid, *descendants(self.pid)]
        subprocess.run([str(self.path / "bin" / "supervisorctl"), "shutdown"], cwd=self.path,
                       capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while any(living(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in tree:
            if living(pid):
                os.kill(pid, signal.SIGKILL)
        self.pid, self.programs = 0, {}


def rss_mb(pid: int) -> float:
    return (rss(pid) or 0) / 1024**2


def cpu_by_program(stack: Built) -> dict[str, float]:
    """CPU seconds so far of supervisord and of each program's process tree."""
    times = {"supervisord": cpu_seconds([stack.pid])}
    for name, pid in stack.programs.items():
        times[name] = cpu_seconds([pid, *descendants(pid)])
    return times


def listener_memory_mb(stack: Built) -> float:
    """RSS of supervisord plus its event listeners."""
    return rss_mb(stack.pid) + sum(rss_mb(stack.programs[n]) for n in stack.listeners if n in stack.programs)


CRON_PARTS = ("crontab", "backup")  # the parts of base.cfg that write cron lines (read-command, write-command)


def sitestack_config(dest: Path, eggs: Path, ports: dict[str, int], extra: str = "") -> str:
    """buildout.cfg of the benchmark's site: free ports, and every part's cron lines in dest/crontab.txt."""
    lines = ["[buildout]", "extends = base.cfg", f"eggs-directory = {eggs}", "", "[ports]"]
    lines += [f"{name} = {port}" for name, port in ports.items()]
    for part in CRON_PARTS:
        lines += ["", f"[{part}]", f"read-command = cat {dest}/crontab.txt",
                  f"write-command = sh -c 'cat > {dest}/crontab.txt'"]
    return "\n".join(lines) + "\n" + extra


def build_sitestack(top: Path, eggs: Path, extra: str = "") -> Built:
    """A copy of this checkout built on free ports; its cron lines ([crontab], [backup]) go to a file."""
    dest = copy_project(top / "sitestack")
    client1, _, varnish, admin, haproxy, zeo, exporter, agent = free_ports(8)
    ports = {"varnish": varnish, "varnish-admin": admin, "haproxy": haproxy, "clients": client1, "zeoserver": zeo,
             "exporter": exporter, "agent": agent}
    (dest / "buildout.cfg").write_text(sitestack_config(dest, eggs, ports, extra))
    (dest / "crontab.txt").write_text("")
    run([PYTHON, "bootstrap.py"], dest)
    run([str(dest / "bin" / "buildout")], dest)
    return Built("sitestack", dest, [str(dest / "bin" / "buildout")], varnish, haproxy, client1, "/api/notes",
                 ("watchdog",))


def build_classic(top: Path, anchor: Path, eggs: Path) -> Built:
    """The anchor's buildout on free ports, as its README says, without its crontab part."""
    dest = top / "classic"
    (dest / "templates").mkdir(parents=True)
    shutil.copy(anchor / "buildout.cfg", dest)
    shutil.copy(anchor / "haproxy.cfg.in", dest / "templates")
    shutil.copytree(anchor / "src", dest / "src")
    dest.chmod(0o755)
    top.chmod(0o755)
    client1, _, zeo, haproxy, varnish, control = free_ports(6)
    run([PYTHON, "-m", "venv", str(dest)], dest)
    run([str(dest / "bin" / "pip"), "install", "-q", "zc.buildout==6.0.1"], dest)
    command = [str(dest / "bin" / "buildout"), f"buildout:parts={CLASSIC_PARTS}", f"buildout:eggs-directory={eggs}",
               f"ports:zeoserver={zeo}", f"ports:client1={client1}", f"ports:client2={client1 + 1}",
               f"ports:haproxy={haproxy}", f"ports:varnish={varnish}", f"ports:supervisor={control}"]
    run(command, dest)
    return Built("classic", dest, command, varnish, haproxy, client1, "/nocache", ("memmon", "httpok1", "httpok2"))

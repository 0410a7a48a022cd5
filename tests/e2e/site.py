"""A sitestack site built in a temporary copy of the project, and the stack it runs."""
from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from control.processes import cmdline, descendants

from support import ROOT, free_port, kill_pids, pid_alive, poll_for, tail

IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "bin", "parts", "eggs", "develop-eggs", "var", ".installed.cfg",
    "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", "downloads",
)


def copy_project(dest: Path) -> Path:
    """The project's files as a fresh clone has them (nothing built)."""
    shutil.copytree(ROOT, dest, ignore=IGNORE)
    dest.chmod(0o755)  # copytree copies the checkout's mode; a clone in `mktemp -d` is 0700
    return dest


def run(command: list[str], cwd: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


@dataclass
class Ports:
    varnish: int = field(default_factory=free_port)
    varnish_admin: int = field(default_factory=free_port)
    haproxy: int = field(default_factory=free_port)
    zeoserver: int = field(default_factory=free_port)
    exporter: int = field(default_factory=free_port)
    agent: int = field(default_factory=free_port)
    clients: int = 0

    def client(self, number: int) -> int:
        return self.clients + number - 1


def site_config(ports: Ports, crontab: Path, eggs: Path, clients: int = 2, extra: str = "") -> str:
    """buildout.cfg for a test site: free ports, a crontab file instead of the real crontab."""
    return f"""[buildout]
extends = base.cfg
eggs-directory = {eggs}

[site]
clients = {clients}

[ports]
varnish = {ports.varnish}
varnish-admin = {ports.varnish_admin}
haproxy = {ports.haproxy}
clients = {ports.clients}
zeoserver = {ports.zeoserver}
exporter = {ports.exporter}
agent = {ports.agent}

[crontab]
read-command = cat {crontab}
write-command = sh -c 'cat > {crontab}'

[backup]
read-command = cat {crontab}
write-command = sh -c 'cat > {crontab}'
{extra}"""


class Stack:
    """bin/supervisord of a built site, driven over supervisor's XML-RPC."""

    def __init__(self, site: Path) -> None:
        self.site = site
        parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"))
        parser.read(site / "parts" / "supervisor" / "supervisord.conf")
        ctl = parser["supervisorctl"]
        self.serverurl = ctl["serverurl"]
        self.username, self.password = ctl.get("username", ""), ctl.get("password", "")
        self.pidfile = Path(parser["supervisord"]["pidfile"])
        self.logfile = Path(parser["supervisord"]["logfile"])
        self.pid: int | None = None
        self.seen_pids: set[int] = set()

    def rpc(self) -> xmlrpc.client.ServerProxy:
        transport = SupervisorTransport(self.username, self.password, self.serverurl)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def start(self) -> None:
        run([str(self.site / "bin" / "supervisord")], self.site, timeout=30)
        self.pid = poll_for(self._read_pid, 10, "supervisord's pidfile", self.explain)

    def _read_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def info(self) -> list[dict]:
        infos = self.rpc().supervisor.getAllProcessInfo()
        self.seen_pids.update(i["pid"] for i in infos if i["pid"])
        return infos

    def all_running(self) -> list[dict] | None:
        infos = self.info()
        return infos if infos and all(i["statename"] == "RUNNING" for i in infos) else None

    def descendants(self) -> set[int]:
        """Every process below supervisord (varnishd's cache child too)."""
        found = set(descendants(self.pid)) if self.pid else set()
        self.seen_pids.update(found)
        return found

    def explain(self) -> str:
        logs = [tail(self.logfile)]
        for log in sorted((self.site / "var" / "log").glob("*.log")):
            if log != self.logfile:
                logs.append(tail(log, 15))
        return "\n".join(logs)

    def stop(self) -> None:
        """Shut supervisord down; then kill by PID whatever it started that is still there."""
        if self.pid and pid_alive(self.pid):
            self.descendants()
            try:
                self.rpc().supervisor.shutdown()
            except (OSError, xmlrpc.client.Fault):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and pid_alive(self.pid):
                time.sleep(0.1)
        kill_pids(self.leftovers())

    def leftovers(self) -> list[int]:
        """Processes this stack started that are still alive (their command line names the site)."""
        return sorted(p for p in {*self.seen_pids, *([self.pid] if self.pid else [])}
                      if pid_alive(p) and str(self.site) in cmdline(p))


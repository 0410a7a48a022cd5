"""A sitestack site built in a temporary copy of the project, and the stack it runs: for the e2e tests and
the benchmarks alike."""
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

from benchmarks.loopback import free_port, free_port_range, http_get, kill_pids, pid_alive, poll_for, tail
from sitestack.control.processes import cmdline, descendants

ROOT = Path(__file__).resolve().parent.parent
# a site whose clients grow in memory on request (the memory-quota fault), with a quota they reach soon
GROWTH = "[clients]\ntest-memory-growth = true\nmemory-quota = 150MB\n"

IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "bin", "parts", "eggs", "develop-eggs", "var", ".installed.cfg",
    "__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis", "*.egg-info", "downloads",
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
    # the edge's public port, for a site that extends profiles/edge.cfg (varnish is then behind it)
    edge: int = field(default_factory=free_port)
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


def edge_config(ports: Ports, crontab: Path, eggs: Path, clients: int = 2, extra: str = "") -> str:
    """buildout.cfg of a test site with the edge (profiles/edge.cfg) on ports.edge, varnish behind it."""
    config = site_config(ports, crontab, eggs, clients, extra)
    config = config.replace("extends = base.cfg\n", "extends = profiles/edge.cfg\n")
    return config.replace(f"agent = {ports.agent}\n", f"agent = {ports.agent}\nedge = {ports.edge}\n")


def zope_config(ports: Ports, crontab: Path, eggs: Path) -> str:
    """buildout.cfg of the Zope test site: profiles/zope.cfg on free ports."""
    config = site_config(ports, crontab, eggs).replace("extends = base.cfg\n", "extends = profiles/zope.cfg\n")
    return config.replace(f"zeoserver = {ports.zeoserver}\n", f"zeoserver = {ports.zeoserver}\n"
                          f"instance1 = {ports.client(1)}\ninstance2 = {ports.client(2)}\n")


@dataclass
class Site:
    path: Path
    ports: Ports
    crontab: Path
    eggs: Path
    edge: bool = False  # built with profiles/edge.cfg: the public port is the edge's

    @property
    def front(self) -> str:
        """The site's public address: the edge when it has one, else varnish."""
        return f"http://127.0.0.1:{self.ports.edge if self.edge else self.ports.varnish}"

    def buildout(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([str(self.path / "bin" / "buildout")], self.path, check=check)


def build_site(dest: Path, egg_cache: Path, clients: int = 2, extra: str = "", edge: bool = False) -> Site:
    """Write a bootstrapped project's buildout.cfg (free ports, a crontab file) and run bin/buildout
    (edge: with profiles/edge.cfg)."""
    ports = Ports(clients=free_port_range(clients))
    crontab = dest / "crontab.txt"
    crontab.write_text("# a line of the user's own\n")
    config = edge_config if edge else site_config
    (dest / "buildout.cfg").write_text(config(ports, crontab, egg_cache, clients, extra))
    site = Site(dest, ports, crontab, egg_cache, edge)
    site.buildout()
    return site


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



def pid_of(stack: Stack, namespec: str) -> int:
    info = stack.rpc().supervisor.getProcessInfo(namespec)
    return int(info["pid"]) if info["statename"] == "RUNNING" else 0


def serving(site: Site, stack: Stack) -> bool:
    """Every program RUNNING, both clients healthy, haproxy with both servers UP."""
    return bool(stack.all_running()) and clients_serving(site)


def answers(url: str, timeout: float = 2.0) -> bool:
    """200 within the timeout (a client holding requests while ZEO is away does not answer in time)."""
    try:
        return http_get(url, timeout=timeout)[0] == 200
    except OSError:
        return False


def clients_serving(site: Site) -> bool:
    """Both clients healthy, answering a page that reads the database within 2 s, UP in haproxy, and the
    page answered at the site's public address, varnish or the edge (what a user sees)."""
    if not all(answers(f"http://127.0.0.1:{site.ports.client(n)}{path}")
               for n in (1, 2) for path in ("/health", "/api/notes?limit=1")):
        return False
    status, body, _ = http_get(f"{site.front}/api/notes", timeout=5)
    return status == 200 and all(up(site, name) for name in ("client1", "client2"))


def up(site: Site, server: str) -> bool:
    """haproxy counts the server UP and READY (its runtime socket, as the restart routine reads it)."""
    from sitestack.control.haproxy_runtime import RuntimeSocket

    state = RuntimeSocket(str(site.path / "var" / "haproxy" / "admin.sock"), "clients").servers().get(server)
    return bool(state and state.status.startswith("UP"))

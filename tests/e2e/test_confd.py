"""conf.d mode for real: Debian's own supervisord includes the fragment bin/buildout writes.

The test starts /usr/bin/supervisord (Debian's `supervisor` package, not the venv's) with its own
config, socket and logs in a temporary directory — never the system service — and drives it with
/usr/bin/supervisorctl exactly as the README says: reread, update, start group:*, status.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e.site import Ports, run, site_config
from support import open_directory
from sitestack.control.processes import descendants
from support import free_port_range, kill_pids, pid_alive, poll_for, tail

pytestmark = pytest.mark.e2e
SUPERVISORD = Path("/usr/bin/supervisord")
SUPERVISORCTL = Path("/usr/bin/supervisorctl")
SYSTEM_CONF = """[unix_http_server]
file = {top}/system/supervisor.sock
chmod = 0700

[supervisord]
logfile = {top}/system/supervisord.log
pidfile = {top}/system/supervisord.pid
childlogdir = {top}/system
user = root

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{top}/system/supervisor.sock

[include]
files = {top}/conf.d/*.conf
"""
SITE = """
[supervisor]
mode = conf.d
supervisord-conf = {top}/conf.d/site.conf
system-conf = {top}/system/supervisord.conf
programs = zeoserver worker
balancer =
"""


def children(pid: int) -> set[int]:
    """Every process below pid."""
    return set(descendants(pid))


@pytest.mark.skipif(not SUPERVISORD.exists(), reason="Debian's supervisor package is not installed (.ci/run installs it)")
def test_fragment_runs_under_debians_supervisord(bootstrapped, egg_cache):
    with open_directory() as top:
        (top / "system").mkdir()
        (top / "conf.d").mkdir()
        system_conf = top / "system" / "supervisord.conf"
        system_conf.write_text(SYSTEM_CONF.format(top=top))
        dest = top / "site"
        dest.mkdir(mode=0o755)
        crontab = dest / "crontab.txt"
        crontab.write_text("")
        text = site_config(Ports(clients=free_port_range(1)), crontab, egg_cache, 1, SITE.format(top=top))
        text = text.replace("extends = base.cfg", f"extends = {bootstrapped / 'base.cfg'}\n"
                            "parts = zeoserver worker supervisor")
        (dest / "buildout.cfg").write_text(text)

        def sysctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(SUPERVISORCTL), "-c", str(system_conf), *args], capture_output=True,
                                  text=True, timeout=60)

        # the machine's supervisord runs first, its include directory still empty
        run([str(SUPERVISORD), "-c", str(system_conf)], top, timeout=30)
        pidfile = top / "system" / "supervisord.pid"
        pid = poll_for(lambda: pidfile.exists() and int(pidfile.read_text().strip() or 0), 10,
                       "Debian's supervisord pidfile", lambda: tail(top / "system" / "supervisord.log"))
        seen: set[int] = set()
        try:
            run([str(bootstrapped / "bin" / "buildout"), "-c", str(dest / "buildout.cfg")], dest)
            fragment = (top / "conf.d" / "site.conf").read_text()
            for section in ("[supervisord]", "[unix_http_server]", "[inet_http_server]", "[supervisorctl]",
                            "[rpcinterface:supervisor]", "[include]"):
                assert section not in fragment, fragment
            assert "[program:worker]" in fragment and "[group:workers]" in fragment, fragment
            assert not (dest / "bin" / "supervisord").exists()

            # the README's steps: reread, update, start group:*, status
            reread = sysctl("reread")
            assert reread.returncode == 0 and "workers: available" in reread.stdout, reread.stdout + reread.stderr
            update = sysctl("update")
            assert "workers: added process group" in update.stdout, update.stdout + update.stderr

            def running() -> dict[str, str] | None:
                seen.update(children(pid))
                lines = sysctl("status").stdout.splitlines()
                states = {line.split()[0]: line.split()[1] for line in lines if line.strip()}
                wanted = ("zeo-cluster:zeoserver", "workers:worker_00", "workers:worker_01")
                return states if all(states.get(name) == "RUNNING" for name in wanted) else None

            explain = lambda: tail(top / "system" / "supervisord.log") + tail(dest / "var" / "log" / "worker_00.log")  # noqa: E731
            poll_for(running, 60, "the site's programs RUNNING under Debian's supervisord", explain)
            assert sysctl("stop", "workers:*").returncode == 0
            assert "STOPPED" in sysctl("status", "workers:worker_00").stdout
            start = sysctl("start", "workers:*")
            assert start.returncode == 0, start.stdout + start.stderr
            poll_for(running, 30, "workers RUNNING again", explain)
            # the site's own bin/supervisorctl talks to the same supervisord
            own = subprocess.run([str(dest / "bin" / "supervisorctl"), "status", "workers:*"], capture_output=True,
                                 text=True, timeout=60)
            assert own.stdout.count("RUNNING") == 2, own.stdout + own.stderr
        finally:
            seen.update(children(pid))
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.1)
            kill_pids(sorted(p for p in seen | {pid} if pid_alive(p)))
            shutil.rmtree(top / "conf.d", ignore_errors=True)

"""The whole stack, for real: bin/buildout, bin/supervisord, HTTP through varnish, faults, shutdown."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import uuid

import pytest

from sitestack.control.requests import NO_RING
from support import http_get, pid_alive, poll_for

pytestmark = pytest.mark.e2e
EXPECTED = {
    "zeo-cluster:zeoserver", "zeo-clients:client1", "zeo-clients:client2", "front:haproxy", "front:varnish",
    "workers:worker_00", "workers:worker_01",
}
# the programs that serve the stack rather than the site: the watchdog and exporter listeners, and the
# agent that answers haproxy's agent-check for the clients
SUPPORT = {"watchdog:watchdog", "exporter:exporter", "agent:agent"}


def post_note(port: int, text: str) -> tuple[int, str, dict]:
    return http_get(f"http://127.0.0.1:{port}/notes", data=urllib.parse.urlencode({"text": text}).encode())


def spawn_order(logfile) -> list[str]:
    return re.findall(r"spawned: '([^']+)' with pid", logfile.read_text())


def test_stack_serves_through_varnish_and_heals(site, stack):
    infos = poll_for(stack.all_running, 60, "every program RUNNING", stack.explain)
    assert {f"{i['group']}:{i['name']}" for i in infos} == EXPECTED | SUPPORT

    order = [name for name in spawn_order(stack.logfile) if f"{name}:{name}" not in SUPPORT]
    assert order[0] == "zeoserver" and set(order[1:3]) == {"client1", "client2"} and (
        set(order[3:5]) == {"worker_00", "worker_01"} and order[5:7] == ["haproxy", "varnish"]), order

    front = site.ports.varnish
    status, body, headers = poll_for(lambda: (r := http_get(f"http://127.0.0.1:{front}/"))[0] == 200 and r,
                                     30, "200 through varnish", stack.explain)
    served_by = re.search(r'id="served-by">(client\d)<', body)
    assert served_by and {k.lower(): v for k, v in headers.items()}["x-served-by"] == served_by.group(1), body

    # content read from the database, written through varnish and read back through it
    token = f"note-{uuid.uuid4().hex}"
    status, _, _ = post_note(front, token)
    assert status in (200, 303), status
    status, body, _ = http_get(f"http://127.0.0.1:{front}/")
    assert status == 200 and token in body

    # a write through one client is visible through the other
    token2 = f"note-{uuid.uuid4().hex}"
    post_note(site.ports.client(1), token2)
    status, body, _ = http_get(f"http://127.0.0.1:{site.ports.client(2)}/api/notes")
    assert status == 200 and token2 in json.dumps(json.loads(body)), body

    # kill -9 of a client: supervisor restarts it (new PID) and it serves again
    rpc = stack.rpc()
    old_pid = rpc.supervisor.getProcessInfo("zeo-clients:client1")["pid"]
    os.kill(old_pid, signal.SIGKILL)

    def restarted():
        info = rpc.supervisor.getProcessInfo("zeo-clients:client1")
        return info["statename"] == "RUNNING" and info["pid"] not in (0, old_pid) and info["pid"]

    new_pid = poll_for(restarted, 30, "client1 restarted with a new PID", stack.explain)
    stack.seen_pids.add(new_pid)
    status, body, _ = poll_for(lambda: (r := http_get(f"http://127.0.0.1:{site.ports.client(1)}/health"))[0] == 200 and r,
                               30, "client1 healthy again", stack.explain)
    assert "client1" in body

    # bin/supervisorctl status lists every program RUNNING in its group
    ctl = subprocess.run([str(site.path / "bin" / "supervisorctl"), "status"], capture_output=True, text=True,
                         timeout=30)
    assert ctl.returncode == 0, ctl.stdout + ctl.stderr
    listed = {line.split()[0]: line.split()[1] for line in ctl.stdout.splitlines() if line.strip()}
    for name in EXPECTED:
        assert listed.get(name) == "RUNNING", ctl.stdout

    # bin/sitestack status: every program RUNNING, every client healthy
    status = subprocess.run([str(site.path / "bin" / "sitestack"), "status"], capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "zeo-clients:client1" in status.stdout and "health 200" in status.stdout

    # bin/sitestack requests: the default site keeps no request ring, and says how to get one
    requests = subprocess.run([str(site.path / "bin" / "sitestack"), "requests"], capture_output=True, text=True,
                              timeout=30)
    assert (requests.returncode, requests.stdout, requests.stderr) == (1, "", NO_RING + "\n"), requests

    # shutdown leaves no process behind
    every = stack.descendants() | {stack.pid}
    rpc.supervisor.shutdown()
    poll_for(lambda: not any(pid_alive(p) for p in every), 60, "every process of the stack gone",
             lambda: f"alive: {[p for p in every if pid_alive(p)]}\n{stack.explain()}")


def snapshot(root) -> dict[str, tuple[bytes, int]]:
    files = {}
    for top in ("bin", "parts"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[str(path)] = (path.read_bytes(), path.stat().st_mtime_ns)
    crontab = root / "crontab.txt"
    files[str(crontab)] = (crontab.read_bytes(), crontab.stat().st_mtime_ns)
    return files


def test_second_buildout_without_change_rewrites_nothing(site):
    before = snapshot(site.path)
    time.sleep(0.05)  # a rewrite would now show in the mtimes
    result = site.buildout()
    assert result.returncode == 0
    after = snapshot(site.path)
    changed = [name for name in before if before[name] != after.get(name)]
    assert not changed and set(before) == set(after), changed


def test_crontab_block_starts_supervisord(site):
    text = site.crontab.read_text()
    assert text.startswith("# a line of the user's own\n")
    assert "@reboot" in text and str(site.path / "bin" / "supervisord") in text

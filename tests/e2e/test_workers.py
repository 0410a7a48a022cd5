"""The worker pool for real: supervisord runs workers_00/01 that do the jobs the demo app queues.

A small site of its own (ZEO, one client, the pool; no haproxy/varnish) built with the session's
bootstrapped project, so its worker settings (short lease, slow jobs, few jobs per life) do not
touch the shared site.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from e2e.conftest import Site
from e2e.site import Ports, Stack, run, site_config
from support import open_directory
from support import free_port_range, http_get, poll_for

pytestmark = pytest.mark.e2e
LEASE = 3
WORK_DELAY = 1.5
MAX_JOBS = 3
POOL = """
[supervisor]
programs = zeoserver clients worker
balancer =

[worker]
numprocs = 2
lease = {lease}
work-delay = {delay}
max-jobs = {max_jobs}
poll-interval = 0.1
"""


@pytest.fixture(scope="module")
def pool_site(bootstrapped, egg_cache):
    """A site whose buildout.cfg extends the bootstrapped project's base.cfg from another directory."""
    with open_directory() as top:
        dest = top / "pool"
        dest.mkdir(mode=0o755)
        ports = Ports(clients=free_port_range(1))
        crontab = dest / "crontab.txt"
        crontab.write_text("")
        text = site_config(ports, crontab, egg_cache, 1, POOL.format(lease=LEASE, delay=WORK_DELAY, max_jobs=MAX_JOBS))
        text = text.replace("extends = base.cfg", f"extends = {bootstrapped / 'base.cfg'}\n"
                            "parts = zeoserver clients worker supervisor")
        (dest / "buildout.cfg").write_text(text)
        run([str(bootstrapped / "bin" / "buildout"), "-c", str(dest / "buildout.cfg")], dest)
        yield Site(dest, ports, crontab, egg_cache)


@pytest.fixture
def pool(pool_site):
    stack = Stack(pool_site.path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def post_note(port: int, text: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/notes", headers={"Accept": "application/json"},
                                     data=urllib.parse.urlencode({"text": text}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["note"]["id"]


def jobs(port: int, note: str = "") -> dict:
    status, body, _ = http_get(f"http://127.0.0.1:{port}/api/jobs" + (f"?note={note}" if note else ""))
    assert status == 200, body
    return json.loads(body)


def ctl(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(site.path / "bin" / "supervisorctl"), *args], capture_output=True, text=True,
                          timeout=60)


def status_lines(site: Site) -> dict[str, tuple[str, int]]:
    """namespec -> (state, pid) from `bin/supervisorctl status`."""
    found = {}
    for line in ctl(site, "status").stdout.splitlines():
        words = line.split()
        if len(words) >= 2:
            pid = re.search(r"pid (\d+)", line)
            found[words[0]] = (words[1], int(pid.group(1)) if pid else 0)
    return found


def worker_pid(stack: Stack, name: str) -> int:
    return stack.rpc().supervisor.getProcessInfo(f"workers:{name}")["pid"]


def test_kill_9_mid_job_the_job_is_done_exactly_once(pool_site, pool):
    client = pool_site.ports.client(1)
    poll_for(pool.all_running, 60, "every program RUNNING", pool.explain)
    poll_for(lambda: http_get(f"http://127.0.0.1:{client}/health")[0] == 200, 30, "client1 healthy", pool.explain)
    note = post_note(client, "one two three " + uuid.uuid4().hex)

    def claimed():
        return next((j for j in jobs(client)["jobs"] if j["payload"] == note and j["owner"]), None)

    job = poll_for(claimed, 20, "a worker claims the note's job", pool.explain, interval=0.02)
    owner_name, _, owner_pid = job["owner"].partition(":")
    assert owner_name in ("worker_00", "worker_01") and int(owner_pid) == worker_pid(pool, owner_name), job
    os.kill(int(owner_pid), signal.SIGKILL)  # mid-job: it sleeps WORK_DELAY seconds before it finishes
    killed_at = time.monotonic()

    # supervisor starts the killed worker again at once, with a new PID
    def back():
        pid = worker_pid(pool, owner_name)
        return pid not in (0, int(owner_pid)) and (pid, time.monotonic() - killed_at)

    new_pid, came_back = poll_for(back, 10, f"{owner_name} back with a new PID", pool.explain, interval=0.02)
    pool.seen_pids.add(new_pid)
    print(f"\n{owner_name} killed with -9 mid-job; new PID after {came_back:.3f}s")  # pytest -s shows it
    assert came_back < 3, f"{owner_name} came back after {came_back:.2f}s"

    # the lease runs out, another process takes the job, does it once
    def counted():
        data = jobs(client, note)
        return data["note_stats"] and data
    data = poll_for(counted, LEASE + 30, "the note counted", pool.explain, interval=0.1)
    words, times = data["note_stats"]
    assert (words, times) == (4, 1), data
    done = [d for d in data["recent_done"] if d["payload"] == note]
    assert len(done) == 1 and done[0]["attempts"] == 2 and done[0]["worker"] != job["owner"], done
    assert not [j for j in data["jobs"] if j["payload"] == note], data
    log = (pool_site.path / "var" / "log" / f"{owner_name}.log").read_text()
    killed = [line for line in log.splitlines() if f"pid {owner_pid}]" in line]
    assert any(f"claimed job {job['id']}" in line for line in killed), log
    assert not any(f"done job {job['id']}" in line for line in killed), log


def test_planned_exit_restart_and_operator_commands(pool_site, pool):
    client = pool_site.ports.client(1)
    poll_for(pool.all_running, 60, "every program RUNNING", pool.explain)
    poll_for(lambda: http_get(f"http://127.0.0.1:{client}/health")[0] == 200, 30, "client1 healthy", pool.explain)

    # the pool as operators see it: group:name_00, group:name_01
    listed = status_lines(pool_site)
    assert listed["workers:worker_00"][0] == listed["workers:worker_01"][0] == "RUNNING", listed
    first = {name: worker_pid(pool, name) for name in ("worker_00", "worker_01")}

    # 2 * MAX_JOBS + 1 jobs: at least one worker reaches max-jobs, exits 0 on purpose, and is restarted
    notes = [post_note(client, f"job {i} {uuid.uuid4().hex}") for i in range(2 * MAX_JOBS + 1)]
    poll_for(lambda: all(jobs(client, n)["note_stats"] for n in notes), 60, "every note counted", pool.explain)
    for note in notes:
        assert jobs(client, note)["note_stats"][1] == 1, note
    text = pool.logfile.read_text()
    exits = re.findall(r"exited: (worker_0[01]) \(exit status 0; expected\)", text)
    assert exits, pool.explain()

    def restarted():
        now = {name: worker_pid(pool, name) for name in first}
        return any(now[name] not in (0, first[name]) for name in exits) and now
    now = poll_for(restarted, 15, "a worker restarted after its planned exit", pool.explain)
    pool.seen_pids.update(now.values())
    log = (pool_site.path / "var" / "log" / f"{exits[0]}.log").read_text()
    assert f"planned exit: {MAX_JOBS} jobs done (max-jobs {MAX_JOBS})" in log

    # stop / start / restart workers:* from bin/supervisorctl
    assert ctl(pool_site, "stop", "workers:*").returncode == 0
    listed = status_lines(pool_site)
    assert {listed[f"workers:worker_0{i}"][0] for i in (0, 1)} == {"STOPPED"}, listed
    assert ctl(pool_site, "start", "workers:*").returncode == 0
    listed = status_lines(pool_site)
    assert {listed[f"workers:worker_0{i}"][0] for i in (0, 1)} == {"RUNNING"}, listed
    before = {name: pid for name, (_, pid) in listed.items()}
    assert ctl(pool_site, "restart", "workers:*").returncode == 0
    listed = status_lines(pool_site)
    for i in (0, 1):
        name = f"workers:worker_0{i}"
        assert listed[name][0] == "RUNNING" and listed[name][1] != before[name], listed
        pool.seen_pids.add(listed[name][1])
    # the watchdog knows the workers' memory quota (group quota covers the pool): it read it from
    # site.json, and its start-up line says so; supervisord.conf's command carries no rules
    conf = (pool_site.path / "parts" / "supervisor" / "supervisord.conf").read_text()
    assert f"command = {pool_site.path}/bin/sitestack-watchdog\n" in conf, conf
    watchdog_log = pool_site.path / "var" / "log" / "watchdog.log"
    poll_for(lambda: re.search(r"watchdog: started; rules from \S+site\.json and its command line: "
                               r"--grace \S+ :: memmon -g zeo-clients=\S+ -g workers=300MB ::",
                               watchdog_log.read_text()), 30, "the watchdog's rules in its log",
             lambda: watchdog_log.read_text()[-2000:])

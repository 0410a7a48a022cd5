"""A real Plone 6 site under sitestack: build, site creation, start-up, rolling restarts and kill -9 under load.

    .venv/bin/python benchmarks/plone.py [--runs 3] [--json results.json]

Builds profiles/zope.cfg with Products.CMFPlone in each instance (pins: benchmarks/plone-versions.cfg,
collected with pip on Debian 12's Python 3.11.2), creates a Plone site, and measures with the default
options. Not run in CI, not collected by pytest; loopback only; every process it starts is stopped by PID.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.loopback import free_port_range, http_get, poll_for  # noqa: E402
from benchmarks.readload import Load  # noqa: E402
from benchmarks.site import Ports, Stack, copy_project, run, zope_config  # noqa: E402

PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
PLONE = """
[instance]
eggs = Products.CMFPlone

[zope]
health-path = /Plone/@@ok
"""
CREATE_SITE = """
import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SpecialUsers import system
from Products.CMFPlone.factory import addPloneSite
from Testing.makerequest import makerequest

root = makerequest(app)  # noqa: F821 - bin/instance run provides app
newSecurityManager(None, system)
if "Plone" not in root.objectIds():
    addPloneSite(root, "Plone", title="Plone", setup_content=True)
    transaction.commit()
print("site ready")
"""
INSTANCES = ("zeo-clients:instance1", "zeo-clients:instance2")
SITE_USER = "sitestack"  # base.cfg [site] user


def build(top: Path) -> tuple[Path, Ports, float]:
    started = time.monotonic()
    path = copy_project(top / "site")
    run([PYTHON, "bootstrap.py"], path, timeout=1800)
    ports = Ports(clients=free_port_range(2))
    eggs = top / "eggs"
    eggs.mkdir(mode=0o755, exist_ok=True)
    (top / "crontab.txt").write_text("# a line of the user's own\n")
    config = zope_config(ports, top / "crontab.txt", eggs).replace(
        "extends = profiles/zope.cfg\n", "extends = profiles/zope.cfg benchmarks/plone-versions.cfg\n")
    (path / "buildout.cfg").write_text(config + PLONE)
    run([str(path / "bin" / "buildout")], path, timeout=1800)
    return path, ports, time.monotonic() - started


def answers(url: str) -> bool:
    return http_get(url, timeout=10)[0] == 200


def startup(stack: Stack, ports: Ports) -> dict[str, float]:
    """Seconds from supervisor starting instance1 to its health view and its first real page."""
    rpc = stack.rpc()
    rpc.supervisor.stopProcess(INSTANCES[0])
    started = time.monotonic()
    rpc.supervisor.startProcess(INSTANCES[0], False)
    base = f"http://127.0.0.1:{ports.client(1)}"
    poll_for(lambda: answers(f"{base}/Plone/@@ok"), 300, "instance1's health view", stack.explain, interval=0.1)
    health = time.monotonic() - started
    page_started = time.monotonic()
    status = http_get(f"{base}/Plone", timeout=120)[0]
    return {"health_s": health, "first_page_s": time.monotonic() - started,
            "first_page_alone_s": time.monotonic() - page_started, "first_page_status": status}


def under_load(site: Path, ports: Ports, stack: Stack, action: str, *args: str) -> dict[str, float]:
    """rolling-restart (with args) or kill -9 of instance1 under load through varnish."""
    poll_for(lambda: stack.all_running() and all(answers(f"http://127.0.0.1:{ports.client(n)}/Plone/@@ok")
                                                 for n in (1, 2)), 300, "both instances serving", stack.explain)
    with Load(f"http://127.0.0.1:{ports.varnish}/Plone", bust=True, seconds=240) as load:
        time.sleep(2)
        started = time.monotonic()
        if action == "kill":
            pid = stack.rpc().supervisor.getProcessInfo(INSTANCES[0])["pid"]
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)
            poll_for(lambda: answers(f"http://127.0.0.1:{ports.client(1)}/Plone/@@ok"), 300, "instance1 back",
                     stack.explain)
        else:
            result = subprocess.run([str(site / "bin" / "sitestack"), "rolling-restart", *args],
                                    capture_output=True, text=True, timeout=900)
            print(result.stdout, flush=True)
        elapsed = time.monotonic() - started
        time.sleep(2)
    return {"seconds": elapsed, "failed": len(load.failed), "total": len(load.results),
            "worst_latency_s": max((r[2] for r in load.results), default=0.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    results: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)
        print(f"  {key}: {value:.2f}", flush=True)

    top = Path(tempfile.mkdtemp(prefix="sitestack-plone-"))
    top.chmod(0o755)
    stack = None
    try:
        site, ports, seconds = build(top)
        note("build_s", seconds)
        stack = Stack(site)
        stack.start()
        poll_for(stack.all_running, 300, "every program RUNNING", stack.explain)
        # both instances have created Zope's root objects (else the script's own start conflicts with theirs)
        poll_for(lambda: all(answers(f"http://127.0.0.1:{ports.client(n)}/") for n in (1, 2)), 300,
                 "both instances answering /", stack.explain)
        started = time.monotonic()
        script = top / "create.py"
        script.write_text(CREATE_SITE)
        script.chmod(0o644)
        # as the site user: run as root, Zope would leave root-owned files in var/cache (Chameleon's
        # compiled templates) that the instances, running as the site user, cannot replace
        as_user = ["runuser", "-u", SITE_USER, "--"] if os.geteuid() == 0 else []
        created = subprocess.run([*as_user, str(site / "bin" / "instance1"), "run", str(script)], cwd=site,
                                 capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        assert "site ready" in created.stdout, (created.stdout[-3000:], created.stderr[-3000:])
        note("create_site_s", time.monotonic() - started)
        for number in range(options.runs):
            print(f"run {number + 1}/{options.runs}", flush=True)
            for key, value in startup(stack, ports).items():
                note(f"startup_{key}", value)
            for name, action, args in (("rolling_default", "rolling", ()), ("rolling_warmup", "rolling",
                                                                            ("--warmup", "/Plone")),
                                       ("kill9", "kill", ())):
                for key, value in under_load(site, ports, stack, action, *args).items():
                    note(f"{name}_{key}", value)
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(top, ignore_errors=True)
    summary = {k: {"median": round(statistics.median(v), 3), "values": v} for k, v in results.items()}
    print(json.dumps(summary, indent=1))
    if options.json:
        options.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The self-healing benchmark: builds the stack in a temporary directory and reports medians.

    .venv/bin/python benchmarks/run.py [--runs 3] [--json results.json]

Not run in CI, not collected by pytest. It builds and runs the site as the e2e tests do (benchmarks/site.py,
which they share; nothing is imported from tests/), and uses only loopback ports. Every process it starts is
stopped by PID.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import Load  # noqa: E402
from sitestack.control import processes  # noqa: E402
from benchmarks.loopback import poll_for  # noqa: E402
from benchmarks.site import GROWTH, Stack, build_site, copy_project, run  # noqa: E402
from benchmarks.stacks import status as page_status  # noqa: E402

PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


def timed(command: list[str], cwd: Path) -> float:
    started = time.monotonic()
    run(command, cwd, timeout=1800)
    return time.monotonic() - started


def build(top: Path, eggs: Path, name: str, edge: bool = False):
    """(site, bootstrap + buildout seconds)."""
    dest = copy_project(top / name)
    started = time.monotonic()
    run([PYTHON, "bootstrap.py"], dest, timeout=1800)
    site = build_site(dest, eggs, extra=GROWTH, edge=edge)
    return site, time.monotonic() - started


def rss_mb(pid: int) -> float:
    return (processes.rss(pid) or 0) / 2**20


class RssSampler(threading.Thread):
    """Peak RSS of supervisord and of the listeners while the stack runs."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack, self.peak, self.done = stack, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                listeners = [i["pid"] for i in self.stack.rpc().supervisor.getAllProcessInfo()
                             if i["group"] == "watchdog" and i["pid"]]
            except Exception:  # noqa: BLE001 - the stack may be restarting
                continue
            self.peak = max(self.peak, rss_mb(self.stack.pid or 0) + sum(rss_mb(p) for p in listeners))


def startup(site) -> dict[str, float]:
    """Seconds from bin/supervisord to the first 200 through varnish, and non-200s after it."""
    stack = Stack(site.path)
    url = f"http://127.0.0.1:{site.ports.varnish}/api/notes"
    started = time.monotonic()
    subprocess.run([str(site.path / "bin" / "supervisord")], cwd=site.path, check=True)
    stack.pid = poll_for(stack._read_pid, 10, "supervisord's pidfile")
    first, bad = None, 0
    try:
        while time.monotonic() - started < 8:
            status = page_status(url)
            if status == 200 and first is None:
                first = time.monotonic() - started
            elif first is not None and status != 200:
                bad += 1
            time.sleep(0.02)
    finally:
        stack.stop()
    return {"first_200_s": first or -1, "non_200_after_first": bad}




def throughput(url: str, seconds: float = 3.0, connections: int = 4) -> float:
    """Successful GETs per second of one URL (benchmarks.load with no writes)."""
    parts = url.split("/", 3)
    with Load("/".join(parts[:3]), connections=connections, seconds=seconds, limit=10**6,
              write_every=10**9, get_path="/" + parts[3]) as load:
        load.join()
    return sum(1 for o in load.outcomes if o.ok) / seconds


def faults_under_load(site, stack: Stack, note, only: list[str] | None = None) -> None:
    """Every fault of the e2e tests (or those named in `only`) under the mixed load: failed/total,
    writes, window, worst latency."""
    from benchmarks.faults import EDGE_FAULTS, FAULTS
    from sitestack.control.underway import UnderWay

    for name, fault in {**FAULTS, **(EDGE_FAULTS if site.edge else {})}.items():
        if only and name not in only:
            continue
        # the previous fault's restart (the watchdog's, say) may still wait for its client's slow start
        poll_for(lambda: not UnderWay(site.path / "var").handling(), 120, f"no restart under way before {name}")
        result = fault(site, stack)
        s, w = result.summary, result.writes  # under_load printed the whole line already
        note(f"{name}_failed", s.failed)
        note(f"{name}_total", s.total)
        note(f"{name}_in_window", s.in_window)
        note(f"{name}_worst_latency_s", s.worst_latency)
        note(f"{name}_writes_acked", w.acked)
        note(f"{name}_writes_lost", len(w.lost))
        note(f"{name}_writes_duplicated", len(w.duplicated))


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--faults-only", action="store_true",
                        help="one warm build, then only the faults under load (no build or startup timings)")
    parser.add_argument("--only", help="comma-separated names of benchmarks/faults.py's FAULTS to run (default: all)")
    parser.add_argument("--edge", action="store_true",
                        help="sites with the edge (profiles/edge.cfg): the load and the faults go through it")
    options = parser.parse_args()
    results: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}", flush=True)

    top = Path(tempfile.mkdtemp(prefix="sitestack-bench-"))
    top.chmod(0o755)
    try:
        for number in range(options.runs):
            print(f"run {number + 1}/{options.runs}", flush=True)
            cold_eggs = top / f"eggs-cold-{number}"
            cold_eggs.mkdir(mode=0o755)
            if options.faults_only:
                site, _ = build(top, Path(os.environ.get("SITESTACK_TEST_EGGS") or cold_eggs), f"warm-{number}",
                                options.edge)
            else:
                _, cold = build(top, cold_eggs, f"cold-{number}")
                note("build_cold_s", cold)
                site, warm = build(top, cold_eggs, f"warm-{number}", options.edge)
                note("build_warm_s", warm)
                note("buildout_rerun_s", timed([str(site.path / "bin" / "buildout")], site.path))
                for key, value in startup(site).items():
                    note(f"startup_{key}", value)
            stack = Stack(site.path)
            stack.start()
            sampler = RssSampler(stack)
            sampler.start()
            try:
                poll_for(lambda: stack.all_running(), 60, "every program RUNNING", stack.explain)
                note("rps_varnish_cached", throughput(f"http://127.0.0.1:{site.ports.varnish}/cached"))
                note("rps_varnish_uncached", throughput(f"http://127.0.0.1:{site.ports.varnish}/api/notes"))
                note("rps_client_direct", throughput(f"http://127.0.0.1:{site.ports.client(1)}/api/notes"))
                if site.edge:
                    note("rps_edge_uncached", throughput(f"{site.front}/api/notes"))
                faults_under_load(site, stack, note, options.only.split(",") if options.only else None)
            finally:
                sampler.done.set()
                stack.stop()
            note("rss_supervisord_plus_listeners_peak_mb", sampler.peak)
            shutil.rmtree(top / f"cold-{number}", ignore_errors=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    summary = {key: median([float(v) for v in values]) for key, values in results.items()}
    print("\nmedians over", options.runs, "runs:")
    for key, value in summary.items():
        print(f"  {key:<42} {value}")
    if options.json:
        options.json.write_text(json.dumps({"medians": summary, "runs": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Side by side: the classic Plone stack and sitestack, one at a time, alternating, under wrk.

    .venv/bin/python benchmarks/sidebyside.py [--rounds 3] [--duration 10] [--connections 16]
        [--anchor ../shared/anchors/classic-stack] [--json out.json] [--write BENCHMARKS.md]

Builds both stacks in a temporary directory on free loopback ports (the classic one from the anchor's
buildout.cfg without its crontab part; sitestack's [crontab] and [backup] cron lines go to a file there:
no real crontab is touched), then per round starts one stack,
measures start-up to the first 200, loads four targets with `wrk -t2 -cN -dD --latency` while reading
the CPU time of every process of the stack (psutil), stops it, times a no-change re-run of its
bin/buildout, and does the same for the other stack (the order alternates between rounds). Medians
over the rounds. Then (--page-notes, sitestack only) the demo's home page over that many notes, a page
of a few ms of CPU (benchmarks/page.py), one client direct and through varnish, alternating, as many
rounds. Needs Debian's wrk (apt-get install -y wrk). Every process started is stopped by PID.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sitestack.control import processes  # noqa: E402
from benchmarks import page  # noqa: E402
from benchmarks.stacks import ROOT, Built, build_classic, build_sitestack, cpu_by_program, listener_memory_mb, run  # noqa: E402
from benchmarks.table import render_markdown, replace_between_markers  # noqa: E402

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
GROUPS = {  # how per-program CPU is summed into rows
    "varnish": ("varnish",), "haproxy": ("haproxy",), "clients": ("client1", "client2"),
    "zeo": ("zeo", "zeoserver"), "supervisord": ("supervisord",),
}


def milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * UNITS[match.group(2)] if match else -1.0


def parse_wrk(output: str) -> dict[str, float]:
    """Requests, req/s, latency percentiles (ms), non-2xx and socket errors from wrk's report."""
    result: dict[str, float] = {}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        result[f"p{pct}_ms"] = milliseconds(match.group(1)) if match else -1.0
    match = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    result["requests"] = float(match.group(1)) if match else 0.0
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    result["rps"] = float(match.group(1)) if match else 0.0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = float(match.group(1)) if match else 0.0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = float(sum(int(g) for g in match.groups())) if match else 0.0
    return result


def load(stack: Built, url: str, seconds: int, connections: int) -> dict[str, float]:
    """One wrk run and the CPU each part of the stack spent per request during it."""
    before, wall = cpu_by_program(stack), time.monotonic()
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                            capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    elapsed = time.monotonic() - wall
    after = cpu_by_program(stack)
    result = parse_wrk(output)
    result["load1"] = float(load_average().split()[0])  # the machine's load during this run
    served = max(result["requests"], 1.0)
    spent = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    for row, names in GROUPS.items():
        result[f"cpu_ms_{row}"] = 1000 * sum(spent.get(n, 0.0) for n in names) / served
    others = [n for n in spent if not any(n in names for names in GROUPS.values())]
    result["cpu_ms_others"] = 1000 * sum(spent[n] for n in others) / served
    result["cpu_ms_total"] = 1000 * sum(spent.values()) / served
    result["supervisord_cpu_s_per_10s"] = 10 * spent.get("supervisord", 0.0) / elapsed
    return result


def targets(stack: Built) -> dict[str, str]:
    return {
        "cached": stack.url(stack.varnish, "/cached"),
        "uncached": stack.url(stack.varnish, stack.uncached),
        "direct": stack.url(stack.client1, stack.uncached),
        "haproxy": stack.url(stack.haproxy, stack.uncached),
    }


def one_round(stack: Built, seconds: int, connections: int, note) -> None:
    """Start, warm up, load each target, stop, time a no-change rebuild."""
    note(stack.kind, "startup_first_200_s", stack.start())
    try:
        note(stack.kind, "memory_supervisord_listeners_idle_mb", listener_memory_mb(stack))
        subprocess.run(["wrk", "-t2", f"-c{connections}", "-d2s", targets(stack)["uncached"]],
                       capture_output=True, timeout=60, check=True)
        for target, url in targets(stack).items():
            time.sleep(1)
            for key, value in load(stack, url, seconds, connections).items():
                note(stack.kind, f"{target}_{key}", value)
        note(stack.kind, "memory_supervisord_listeners_loaded_mb", listener_memory_mb(stack))
    finally:
        stack.stop()
    note(stack.kind, "rebuild_noop_s", run(stack.rebuild, stack.path))


def page_rounds(stack: Built, rounds: int, seconds: int, connections: int, notes: int, note) -> None:
    """sitestack only: the home page over `notes` notes (a few ms of CPU), one client direct and through varnish."""
    stack.start()
    try:
        page.seed(stack.haproxy, notes)
        page.wait_for_jobs(stack.client1)
        urls = {"page_direct": stack.url(stack.client1, page.PATH),
                "page_uncached": stack.url(stack.varnish, page.PATH)}
        subprocess.run(["wrk", "-t2", f"-c{connections}", "-d2s", urls["page_uncached"]],
                       capture_output=True, timeout=60, check=True)
        for number in range(rounds):
            for target in (sorted(urls) if number % 2 == 0 else sorted(urls, reverse=True)):
                time.sleep(1)
                for key, value in load(stack, urls[target], seconds, connections).items():
                    note(stack.kind, f"{target}_{key}", value)
    finally:
        stack.stop()


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in processes.load_average())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--anchor", type=Path, default=ROOT.parent / "shared" / "anchors" / "classic-stack")
    parser.add_argument("--sitestack-extra", default="", help="more buildout.cfg text for sitestack's site")
    parser.add_argument("--stacks", default="classic,sitestack", help="which to run (an experiment: sitestack)")
    parser.add_argument("--page-notes", type=int, default=2000,
                        help="after the rounds, sitestack's home page over this many notes (0: skip)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", type=Path, help="BENCHMARKS.md: replace the text between its side-by-side markers")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found; install it with: apt-get install -y wrk", file=sys.stderr)
        return 2
    kinds = options.stacks.split(",")
    if "classic" in kinds and not (options.anchor / "buildout.cfg").exists():
        print(f"no classic stack at {options.anchor} (--anchor)", file=sys.stderr)
        return 2
    runs: dict[str, dict[str, list[float]]] = {"classic": {}, "sitestack": {}}

    def note(kind: str, key: str, value: float) -> None:
        runs[kind].setdefault(key, []).append(value)
        print(f"  {kind} {key}: {value:.3f}", flush=True)

    loads = [load_average()]
    top = Path(tempfile.mkdtemp(prefix="sitestack-sidebyside-"))
    top.chmod(0o755)
    stacks: list[Built] = []
    try:
        eggs = top / "eggs"
        eggs.mkdir(mode=0o755)
        if "classic" in kinds:
            stacks.append(build_classic(top, options.anchor.resolve(), top / "classic-eggs"))
        if "sitestack" in kinds:
            stacks.append(build_sitestack(top, eggs, options.sitestack_extra.replace("\\n", "\n")))
        for number in range(options.rounds):
            order = stacks if number % 2 == 0 else stacks[::-1]
            for stack in order:
                print(f"round {number + 1}/{options.rounds}: {stack.kind}", flush=True)
                one_round(stack, options.duration, options.connections, note)
                loads.append(load_average())
        for stack in stacks:
            if stack.kind == "sitestack" and options.page_notes > 0:
                print(f"home page over {options.page_notes} notes: sitestack, {options.rounds} rounds", flush=True)
                page_rounds(stack, options.rounds, options.duration, options.connections, options.page_notes, note)
                loads.append(load_average())
    finally:
        for stack in stacks:
            stack.stop()
        shutil.rmtree(top, ignore_errors=True)
    medians = {kind: {k: statistics.median(v) for k, v in values.items()} for kind, values in runs.items()}
    meta = {"rounds": options.rounds, "page_notes": options.page_notes, "duration": options.duration,
            "connections": options.connections, "load_averages": loads, "nproc": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h"], capture_output=True,
                                     text=True).stdout.strip()}
    if options.json:
        options.json.write_text(json.dumps({"meta": meta, "medians": medians, "runs": runs}, indent=1) + "\n")
    table = render_markdown(meta, medians, runs)
    print(table)
    if options.sitestack_extra:
        print(f"sitestack built with: {options.sitestack_extra!r}")
    if options.write:
        options.write.write_text(replace_between_markers(options.write.read_text(), table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

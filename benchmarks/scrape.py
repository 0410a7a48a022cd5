"""What one scrape of the exporter costs, and whether scrapes slow a restart down.

    .venv/bin/python benchmarks/scrape.py [--scrapes 50] [--json results.json]

Builds the default stack (2 clients, 2 workers) in a temporary directory, starts it, then:
1. scrapes /metrics --scrapes times in a row and reports the wall time per scrape (median, p95), the
   exporter's CPU time per scrape (its process's user+system time, from psutil), the size of the
   answer, and each collector's median time (sitestack_exporter_collector_seconds);
2. times `bin/sitestack rolling-restart client1` (--restarts times each) with no scrapes, while a
   thread scrapes once a second, and while it scrapes without pause (a worst case: Prometheus
   scrapes every 15s by default).
Not run in CI, not collected by pytest; loopback only; every process it starts is stopped by PID.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from benchmarks.loopback import http_get, poll_for  # noqa: E402
from benchmarks.site import Stack, build_site, copy_project, run  # noqa: E402

PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


def scrape_costs(url: str, pid: int, count: int) -> dict[str, object]:
    process = psutil.Process(pid)
    walls, cpus, sizes, collectors = [], [], [], {}
    for _ in range(count):
        before = sum(process.cpu_times()[:2])
        started = time.monotonic()
        status, body, _ = http_get(url, timeout=30)
        walls.append(time.monotonic() - started)
        cpus.append(sum(process.cpu_times()[:2]) - before)
        assert status == 200, body[-300:]
        sizes.append(len(body))
        for family in text_string_to_metric_families(body):
            if family.name == "sitestack_exporter_collector_seconds":
                for sample in family.samples:
                    collectors.setdefault(sample.labels["collector"], []).append(sample.value)
    walls.sort()
    own = [s.value for f in text_string_to_metric_families(body) if f.name == "sitestack_program_rss_bytes"
           for s in f.samples if s.labels["program"] == "exporter"]
    return {
        "exporter_rss_mb": round(own[0] / 2**20, 1) if own else None,
        "wall_median_ms": round(1000 * statistics.median(walls), 1),
        "wall_p95_ms": round(1000 * walls[int(0.95 * (len(walls) - 1))], 1),
        "cpu_median_ms": round(1000 * statistics.median(cpus), 1),
        "bytes": statistics.median(sizes),
        "collectors_median_ms": {k: round(1000 * statistics.median(v), 1) for k, v in sorted(collectors.items())},
    }


def rolling_restart(site: Path, url: str, pause: float | None) -> tuple[float, int]:
    """Seconds `bin/sitestack rolling-restart client1` took, and the scrapes made meanwhile
    (pause None: no scrapes; 0: one after the other without pause)."""
    stop, scrapes = threading.Event(), [0]

    def scrape_forever() -> None:
        while not stop.is_set():
            http_get(url, timeout=30)
            scrapes[0] += 1
            stop.wait(pause or 0)
    thread = threading.Thread(target=scrape_forever, daemon=True)
    if pause is not None:
        thread.start()
    started = time.monotonic()
    run([str(site / "bin" / "sitestack"), "rolling-restart", "client1"], site, timeout=300)
    took = time.monotonic() - started
    stop.set()
    if pause is not None:
        thread.join(60)
        assert not thread.is_alive()
    return took, scrapes[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--restarts", type=int, default=3, help="rolling restarts of client1 per scrape rate")
    parser.add_argument("--json", default="")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sitestack-bench-") as top:
        Path(top).chmod(0o755)
        eggs = Path(top) / "eggs"
        eggs.mkdir(mode=0o755)
        project = copy_project(Path(top) / "site")
        run([PYTHON, "bootstrap.py"], project, timeout=900)
        site = build_site(project, eggs)
        stack = Stack(site.path)
        stack.start()
        try:
            poll_for(stack.all_running, 120, "every program RUNNING", stack.explain)
            url = f"http://127.0.0.1:{site.ports.exporter}/metrics"
            pid = int(stack.rpc().supervisor.getProcessInfo("exporter")["pid"])
            # RUNNING comes before the exporter has bound its port; its first scrape opens its ZEO connection
            poll_for(lambda: http_get(url, timeout=30)[0] == 200, 30, "the exporter answering")
            results: dict[str, object] = {"scrape": scrape_costs(url, pid, options.scrapes)}
            restarts: dict[str, object] = {}
            for label, pause in (("no scrapes", None), ("a scrape every second", 1.0), ("scrapes without pause", 0.0)):
                runs = [rolling_restart(site.path, url, pause) for _ in range(options.restarts)]
                restarts[label] = {"median_s": round(statistics.median(r[0] for r in runs), 2),
                                   "runs_s": [round(r[0], 2) for r in runs], "scrapes": [r[1] for r in runs]}
            results["rolling_restart_client1"] = restarts
            status = run([str(site.path / "bin" / "sitestack"), "status"], site.path, timeout=60, check=False)
            print(status.stdout, flush=True)
        finally:
            stack.stop()
    print(json.dumps(results, indent=1))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

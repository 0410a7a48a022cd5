"""bin/sitestack status: every program's state, PID, memory against quota, restarts by cause and health.

The figures are the exporter's (README "Metrics"): resident memory of the process tree as the
watchdog measures it, restarts from var/metrics/restarts.json, the health URL's answer and latency.
"""
from __future__ import annotations

import argparse
import time

from sitestack.control import http_answer, processes
from sitestack.control.counters import CAUSES, RestartCounts
from sitestack.control.site import Site

describe = ("every program with its supervisor state, memory against its quota, restarts by cause and, "
            "for clients, its health URL's answer and latency")


def health(url: str, timeout: float = 2.0) -> str:
    answer = http_answer.get(url, timeout)
    return str(answer.status) if answer.status else f"unreachable ({answer.error})"


def mb(size: int) -> str:
    return f"{size / 1024**2:.0f}MB"


def memory(pid: int, quota: int | None) -> str:
    """'212MB/800MB 27%' (or just '212MB' without a quota, '-' without a process)."""
    if not pid:
        return "-"
    size = processes.tree_rss([pid]).get(pid, 0)
    return f"{mb(size)}/{mb(quota)} {100 * size / quota:.0f}%" if quota else mb(size)


def restarts(by_cause: dict[str, dict[str, int]]) -> str:
    """'crash 1 health 2' (restarts done, by cause), '-' when there were none."""
    done = [(cause, int(by_cause.get(cause, {}).get("restarted", 0))) for cause in CAUSES]
    return " ".join(f"{cause} {count}" for cause, count in done if count) or "-"


def main(site: Site, argv: list[str]) -> int:
    argparse.ArgumentParser(prog="sitestack status", description=describe).parse_args(argv)
    infos = {f"{i['group']}:{i['name']}": i for i in site.rpc().supervisor.getAllProcessInfo()}
    counts = RestartCounts(site.directory).read()
    problems = 0
    print(f"{'program':<28} {'state':<9} {'pid':<7} {'memory (quota)':<20} {'restarts':<18}")
    for program in sorted(site.programs, key=lambda p: (p.priority, p.name)):
        info = infos.get(program.namespec, {})
        state = info.get("statename", "UNKNOWN")
        pid = int(info.get("pid", 0))
        line = (f"{program.namespec:<28} {state:<9} {pid:<7} {memory(pid, program.memory_quota):<20} "
                f"{restarts(counts.get(program.namespec, {})):<18}")
        if program.health_url and program.watchdog:
            started = time.monotonic()
            answer = health(program.health_url)
            line += f" health {answer} in {1000 * (time.monotonic() - started):.0f}ms"
            problems += answer != "200"
        problems += state != "RUNNING"
        print(line.rstrip())
    from sitestack.control.backups import status_line

    if backups := status_line(site):
        print(backups)
    return 1 if problems else 0

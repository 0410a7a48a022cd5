"""bin/sitestack reload: apply a re-run of bin/buildout to the running stack, restarting only what changed.

supervisor's own `reread` + `update` restarts a whole group when one member's section changed,
and never sees a change that lives outside supervisord.conf (a client's options are in its
bin/clientN script, haproxy's in haproxy.cfg). reload:

1. asks supervisord to re-read supervisord.conf (`reloadConfig`): removed groups are stopped and
   removed, added groups are added (and start), a group whose sections changed is re-added;
2. restarts each remaining program one at a time (clients out of haproxy first, through
   control.restart) when what it runs from changed after it started: its command, a file named in
   it (bin/client1, haproxy.cfg, the VCL) or a configuration file such a script names (zeo.conf);
3. starts, the same way, each program that is STOPPED, EXITED or FATAL when what it runs from
   changed after its last start (a fixed command brings a FATAL client back).

bin/buildout records, per program, a digest of all that and when it changed
(var/supervisor/digests.json, recipes/digests.py); the digest current when a process started is
compared with the latest one. (File mtimes would not do: buildout rewrites every file of a part
whose options changed, identical or not.)
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from control.site import Site
from recipes import digests

describe = "after bin/buildout: add/remove programs, restart only those whose files changed since they started"
HISTORY = Path("var") / "supervisor" / "digests.json"


def started_at(pid: int) -> float | None:
    """When a process started (epoch seconds, to the clock tick), from /proc."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        btime = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime "))
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def stale(history: dict[str, list[list[object]]], name: str, pid: int) -> bool:
    """Whether what the program runs from changed since this process started."""
    return changed_since(history, name, started_at(pid))


def changed_since(history: dict[str, list[list[object]]], name: str, start: float | None) -> bool:
    """Whether what the program runs from changed after `start` (epoch seconds)."""
    entries = history.get(name)
    if start is None or not entries:
        return False
    then = digests.digest_at(history, name, start)
    return then is not None and then != entries[-1][1]


Restarter = Callable[..., bool]


def restarter(site: Site, rpc: Any, say: Callable[[str], None]) -> Restarter:
    """restart(namespec, reason, before_start=None): control.restart's routine (drains a client first)."""
    try:
        from control.restart import Policy, restart_client
    except ImportError:  # the seam: without control.restart, a plain supervisor restart
        def plain(namespec: str, reason: str, before_start: Callable[[], None] | None = None) -> bool:
            rpc.supervisor.stopProcess(namespec)
            if before_start is not None:
                before_start()
            return bool(rpc.supervisor.startProcess(namespec))
        return plain

    def drained(namespec: str, reason: str, before_start: Callable[[], None] | None = None) -> bool:
        # an operator's restart: no hourly budget, and wait a while for a turn rather than refuse
        result = restart_client(site, namespec, reason, Policy(automatic=False, wait_turn=120.0), rpc=rpc,
                                progress=lambda line: say(f"  {line}"), before_start=before_start)
        say(f"  {result.describe()}")
        return bool(result.ok)
    return drained


def apply_groups(rpc: Any, say: Callable[[str], None], site: Site | None = None,
                 restart: Restarter | None = None) -> set[str]:
    """supervisorctl update's group part; returns the groups it (re)started.

    With sitestack's rpcinterface (supervisord mode), a changed group is re-added one member at a
    time: each running member is restarted through `restart` and takes its new configuration
    between its stop and its start, so the other clients keep serving.
    """
    [[added, changed, removed]] = rpc.supervisor.reloadConfig()
    for group in removed:
        say(f"removing group {group}")
        rpc.supervisor.stopProcessGroup(group)
        rpc.supervisor.removeProcessGroup(group)
    one_by_one = site is not None and restart is not None and "sitestack.replaceProcess" in \
        rpc.system.listMethods()
    for group in changed:
        # programs of the site only: an event listener pool (the watchdog) is re-added whole
        if one_by_one and any(p.group == group for p in site.programs):  # type: ignore[union-attr]
            say(f"re-adding group {group} one process at a time (its supervisord.conf sections changed)")
            readd_one_by_one(rpc, say, site, restart, group)  # type: ignore[arg-type]
            continue
        say(f"re-adding group {group} (its supervisord.conf sections changed)")
        rpc.supervisor.stopProcessGroup(group)
        rpc.supervisor.removeProcessGroup(group)
        rpc.supervisor.addProcessGroup(group)
    for group in added:
        say(f"adding group {group}")
        rpc.supervisor.addProcessGroup(group)
    return set(changed) | set(added)


def readd_one_by_one(rpc: Any, say: Callable[[str], None], site: Site, restart: Restarter, group: str) -> None:
    """Each member of a changed group in turn: stopped, given its new configuration, started."""
    running = {i["name"]: i["statename"] for i in rpc.supervisor.getAllProcessInfo() if i["group"] == group}
    wanted = [p.name for p in sorted(site.programs, key=lambda p: (p.priority, p.name)) if p.group == group]
    for name in [*[n for n in wanted if n in running], *[n for n in running if n not in wanted],
                 *[n for n in wanted if n not in running]]:
        namespec = f"{group}:{name}"
        swap = lambda name=name: rpc.sitestack.replaceProcess(group, name)  # noqa: E731
        if name in running and name in wanted and not rpc.sitestack.processChanged(group, name):
            continue  # its own section did not change: it keeps running as it is
        if name in running and name in wanted and running[name] == "RUNNING":
            say(f"restarting {namespec} with its new configuration")
            if not restart(namespec, "its supervisord.conf section changed", before_start=swap):
                say(f"FAILED to restart {namespec}")
        elif name in running and name not in wanted:
            say(f"removing {namespec}")
            if running[name] not in ("STOPPED", "EXITED", "FATAL"):
                rpc.supervisor.stopProcess(namespec)
            swap()
        else:
            say(f"{'adding' if name not in running else 'updating'} {namespec}")
            swap()
            if name not in running:
                rpc.supervisor.startProcess(namespec, False)
    rpc.sitestack.finishGroup(group)


def needs_restart(history: dict[str, list[list[object]]], info: dict[str, Any]) -> bool:
    """A RUNNING process older than its files, or a STOPPED/EXITED/FATAL one whose files changed since."""
    if info["statename"] == "RUNNING":
        return stale(history, info["name"], info["pid"])
    if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
        return bool(info.get("start")) and changed_since(history, info["name"], float(info["start"]))
    return False


def main(site: Site, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sitestack reload", description=describe)
    parser.add_argument("--dry-run", action="store_true", help="say what would be restarted, change nothing")
    options = parser.parse_args(argv)
    rpc = site.rpc()
    say = lambda line: print(line, flush=True)  # noqa: E731
    restart = restarter(site, rpc, say)
    fresh = set() if options.dry_run else apply_groups(rpc, say, site, restart)
    history = digests.read_history(site.directory / HISTORY)
    failed = 0
    for info in sorted(rpc.supervisor.getAllProcessInfo(), key=lambda i: (i["group"], i["name"])):
        namespec = f"{info['group']}:{info['name']}"
        if info["group"] in fresh or not needs_restart(history, info):
            continue
        reason = "its command or files changed since it " + ("started" if info["statename"] == "RUNNING"
                                                             else f"last started ({info['statename']})")
        say(f"{'would restart' if options.dry_run else 'restarting'} {namespec}: {reason}")
        if not options.dry_run and not restart(namespec, reason):
            say(f"FAILED to restart {namespec}")
            failed += 1
    say("reload done" if not failed else f"reload: {failed} restart(s) failed")
    return 1 if failed else 0

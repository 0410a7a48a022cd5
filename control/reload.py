"""bin/sitestack reload: apply a re-run of bin/buildout to the running stack, restarting only what changed.

supervisor's own `reread` + `update` restarts a whole group when one member's section changed,
and never sees a change that lives outside supervisord.conf (a client's options are in its
bin/clientN script, haproxy's in haproxy.cfg). reload:

1. asks supervisord to re-read supervisord.conf (`reloadConfig`): removed groups are stopped and
   removed, added groups are added (and start); a group whose sections changed is updated member
   by member (`sitestack.updateGroup`, control/supervisor_rpc.py): a new client is added and starts
   while the others keep serving (under a supervisord without that namespace, Debian's in conf.d
   mode, the group is re-added as `supervisorctl update` does);
2. applies a changed front config without a restart (control/front.py): haproxy.cfg by haproxy's
   seamless reload, the VCL by vcl.load/vcl.use; then members that left a group are stopped and
   removed (haproxy no longer sends them anything);
3. restarts each remaining program one at a time (clients out of haproxy first, through
   sitestack.control.restart) when what it runs from changed after it started: its command, a file named in
   it (bin/client1) or a configuration file such a script names (zeo.conf), or whose own section
   in supervisord.conf changed. haproxy and varnish are restarted only when their command itself
   changed;
4. starts, the same way, each program that is STOPPED, EXITED or FATAL when what it runs from
   changed after its last start (a fixed command brings a FATAL client back).

bin/buildout records, per program, a digest of all that and when it changed
(var/supervisor/digests.json, recipes/digests.py); the digest current when a process started is
compared with the latest one. (File mtimes would not do: buildout rewrites every file of a part
whose options changed, identical or not.)
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitestack.control import front
from sitestack.control.processes import started_at
from sitestack.control.site import Site
from sitestack.recipes import digests

describe = "after bin/buildout: add/remove programs, restart only those whose files changed since they started"
HISTORY = Path("var") / "supervisor" / "digests.json"
# the digest a running haproxy/varnish was last reloaded to, with its PID (a reload keeps the process)
APPLIED = Path("var") / "supervisor" / "reloaded.json"


def stale(history: dict[str, list[list[object]]], name: str, pid: int,
          applied: dict[str, list[object]] | None = None) -> bool:
    """Whether what the program runs from changed since this process started (or was last reloaded)."""
    reloaded = (applied or {}).get(name)
    entries = history.get(name)
    if reloaded and entries and reloaded[0] == pid:  # this very process was reloaded to that digest
        return reloaded[1] != entries[-1][1]
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
    """restart(namespec, reason, before_start=None): sitestack.control.restart's routine (drains a client first)."""
    try:
        from sitestack.control.restart import Policy, restart_client
    except ImportError:  # the seam: without sitestack.control.restart, a plain supervisor restart
        def plain(namespec: str, reason: str, before_start: Callable[[], None] | None = None) -> bool:
            rpc.supervisor.stopProcess(namespec)
            if before_start is not None:
                before_start()
            return bool(rpc.supervisor.startProcess(namespec))
        return plain

    def drained(namespec: str, reason: str, before_start: Callable[[], None] | None = None) -> bool:
        # an operator's restart: no hourly budget, and wait a while for a turn rather than refuse
        result = restart_client(site, namespec, reason, Policy(automatic=False, wait_turn=120.0), rpc=rpc,
                                progress=lambda line: say(f"  {line}"), cause="reload",
                                before_start=before_start)
        say(f"  {result.describe()}")
        return bool(result.ok)
    return drained


def member_by_member(rpc: Any) -> bool:
    """Whether supervisord offers sitestack.updateGroup (bin/supervisord does)."""
    try:
        rpc.sitestack.getAPIVersion()
    except Exception:  # noqa: BLE001 - xmlrpc Fault "UNKNOWN_METHOD" or an older site
        return False
    return True


@dataclass
class GroupChanges:
    """What apply_groups did: groups (re)started whole, members added, changed, still to remove."""

    fresh: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)  # namespecs whose program config changed
    leaving: list[str] = field(default_factory=list)  # namespecs to stop and remove after the front


def apply_groups(rpc: Any, say: Callable[[str], None]) -> GroupChanges:
    """supervisorctl update's group part, a changed group member by member where supervisord can."""
    [[added, changed, removed]] = rpc.supervisor.reloadConfig()
    result = GroupChanges(fresh=set(added))
    for group in removed:
        say(f"removing group {group}")
        rpc.supervisor.stopProcessGroup(group)
        rpc.supervisor.removeProcessGroup(group)
    by_member = bool(changed) and member_by_member(rpc)
    for group in changed:
        if by_member:
            new, gone, different, leaving = rpc.sitestack.updateGroup(group)
            for name in new:
                say(f"adding {group}:{name} (the other members keep running)")
            for name in gone:
                say(f"removed {group}:{name}")
            result.changed |= {f"{group}:{name}" for name in different}
            result.leaving += [f"{group}:{name}" for name in leaving]
            continue
        say(f"re-adding group {group} (its supervisord.conf sections changed)")
        rpc.supervisor.stopProcessGroup(group)
        rpc.supervisor.removeProcessGroup(group)
        rpc.supervisor.addProcessGroup(group)
        result.fresh.add(group)
    for group in added:
        say(f"adding group {group}")
        rpc.supervisor.addProcessGroup(group)
    return result


def remove_leaving(rpc: Any, leaving: list[str], say: Callable[[str], None]) -> None:
    """Stop the members that left their group (the front no longer uses them), then drop them."""
    for namespec in leaving:
        say(f"stopping {namespec}: it left its group")
        rpc.supervisor.stopProcess(namespec)
    for group in sorted({n.split(":")[0] for n in leaving}):
        rpc.sitestack.updateGroup(group)


def reload_front(site: Site, rpc: Any, info: dict[str, Any], command: str) -> str:
    """haproxy's seamless reload or varnish's vcl.load for one program; FrontError if it fails."""
    kind = front.kind_of(command)
    namespec = f"{info['group']}:{info['name']}"
    if kind == "haproxy":
        socket = site.admin_socket(info["name"])
        if socket is None:
            raise front.FrontError(f"site.json names no admin socket for {info['name']} (the supervisor part's "
                                   "balancer or edge)")
        return front.reload_haproxy(rpc, namespec, command, socket)
    return front.reload_varnish(command)


def needs_restart(history: dict[str, list[list[object]]], info: dict[str, Any],
                  applied: dict[str, list[object]] | None = None) -> bool:
    """A RUNNING process older than its files, or a STOPPED/EXITED/FATAL one whose files changed since."""
    if info["statename"] == "RUNNING":
        return stale(history, info["name"], info["pid"], applied)
    if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
        return bool(info.get("start")) and changed_since(history, info["name"], float(info["start"]))
    return False


def say(line: str) -> None:
    print(line, flush=True)


def main(site: Site, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sitestack reload", description=describe)
    parser.add_argument("--dry-run", action="store_true", help="say what would be restarted, change nothing")
    options = parser.parse_args(argv)
    rpc = site.rpc()
    changes = GroupChanges() if options.dry_run else apply_groups(rpc, say)
    history = digests.read_history(site.directory / HISTORY)
    applied = read_applied(site.directory / APPLIED)
    commands = {c["name"]: c["command"] for c in rpc.supervisor.getAllConfigInfo()}
    infos = [i for i in sorted(rpc.supervisor.getAllProcessInfo(), key=lambda i: (i["group"], i["name"]))
             if i["group"] not in changes.fresh and (needs_restart(history, i, applied) or (
                 i["statename"] == "RUNNING" and f"{i['group']}:{i['name']}" in changes.changed))]
    failed = 0
    for info in infos:
        namespec = f"{info['group']}:{info['name']}"
        command = commands.get(info["name"], "")
        if front.kind_of(command) is None or namespec in changes.changed or info["statename"] != "RUNNING":
            continue
        say(f"{'would reload' if options.dry_run else 'reloading'} {namespec}: its config changed")
        if options.dry_run:
            continue
        try:
            say(f"  {reload_front(site, rpc, info, command)}")
            applied[info["name"]] = [info["pid"], str(history[info["name"]][-1][1])]
            write_applied(site.directory / APPLIED, applied)
        except (front.FrontError, OSError) as error:
            say(f"FAILED to reload {namespec}: {error}")
            failed += 1
    remove_leaving(rpc, changes.leaving, say)
    failed += restart_stale(site, rpc, say, options.dry_run, changes.changed,
                            [i for i in infos if front.kind_of(commands.get(i["name"], "")) is None
                             or f"{i['group']}:{i['name']}" in changes.changed or i["statename"] != "RUNNING"])
    say("reload done" if not failed else f"reload: {failed} step(s) failed")
    return 1 if failed else 0


def restart_stale(site: Site, rpc: Any, say: Callable[[str], None], dry_run: bool, changed: set[str],
                  infos: list[dict[str, Any]]) -> int:
    """Restart (or start) each of these programs in turn, clients drained first; returns how many failed."""
    restart = restarter(site, rpc, say)
    failed = 0
    for info in infos:
        namespec = f"{info['group']}:{info['name']}"
        if namespec in changed:
            reason = "its supervisord.conf section changed"
        else:
            reason = "its command or files changed since it " + (
                "started" if info["statename"] == "RUNNING" else f"last started ({info['statename']})")
        say(f"{'would restart' if dry_run else 'restarting'} {namespec}: {reason}")
        if not dry_run and not restart(namespec, reason):
            say(f"FAILED to restart {namespec}")
            failed += 1
    return failed


def read_applied(path: Path) -> dict[str, list[object]]:
    """program name -> [PID, digest]: the digest a running front program was last reloaded to."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, list) and len(v) == 2} \
        if isinstance(data, dict) else {}


def write_applied(path: Path, applied: dict[str, list[object]]) -> None:
    path.write_text(json.dumps(applied, indent=1, sort_keys=True) + "\n", encoding="utf-8")

"""bin/sitestack restore: put the ZODB back to a backup point, stopping and starting what uses it.

1. the backup set for --date is checked first (repozo files, sizes, blob snapshot): an incomplete
   one is refused before anything stops;
2. the programs of the storage's groups (ZEO, clients, workers) are stopped through supervisord,
   dependents first; the front (haproxy, varnish) keeps running and answers 503 meanwhile;
3. the live Data.fs and blob directory are moved aside (never deleted), repozo restores Data.fs,
   the blob snapshot is copied back, and the result is opened and checked: its last transaction
   must be the backup point's and every current blob must be there;
4. the stopped programs are started again, ZEO first. A restore that fails puts the live data back.
"""
from __future__ import annotations

import argparse
import os
import socket
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from sitestack.backup.config import BackupConfig, load
from sitestack.backup.points import complete_points
from sitestack.control.site import Site
from sitestack.recipes.address import Address

SUCCESS = 80  # supervisor.xmlrpc.Faults.SUCCESS, in a group call's results

# ZODB's modules (repozo, FileStorage, zc.lockfile) are imported where they are used: bin/sitestack
# has them only in a site with a backup part, and its other commands must work without them.

describe = "restore Data.fs and the blobs from a backup point (--date), stopping and restarting what uses them"


def backup_config(site: Site) -> BackupConfig | None:
    path = site.extra.get("backup")
    return load(path) if path else None


def zeo_answers(address: Address) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=1):
            return True
    except OSError:
        return False


def storage_locked(storage: str) -> bool:
    """Whether a process holds the FileStorage's lock (a ZEO server still using it)."""
    import zc.lockfile

    if not Path(storage).exists():
        return False
    try:
        zc.lockfile.LockFile(storage + ".lock").close()
    except zc.lockfile.LockError:
        return True
    return False


def move_aside(config: BackupConfig, when: str) -> list[tuple[Path, Path]]:
    """Rename the live Data.fs (and its index, lock, tmp) and blob directory; (from, to) pairs."""
    storage = Path(config.storage)
    aside = storage.parent / f"before-restore-{when}"
    moves: list[tuple[Path, Path]] = []
    for suffix in ("", ".index", ".tmp", ".lock"):
        source = Path(f"{storage}{suffix}")
        if source.exists():
            aside.mkdir(mode=0o700, exist_ok=True)
            moves.append((source, aside / source.name))
    blob_dir = Path(config.blob_dir)
    if blob_dir.exists():
        moves.append((blob_dir, blob_dir.with_name(f"{blob_dir.name}.before-restore-{when}")))
    for source, target in moves:
        os.rename(source, target)
    return moves


def put_back(config: BackupConfig, moves: list[tuple[Path, Path]], when: str) -> None:
    """A failed restore: its output goes aside as failed-restore-*, the live data comes back."""
    storage, blob_dir = Path(config.storage), Path(config.blob_dir)
    failed = storage.parent / f"failed-restore-{when}"
    for path in (*(Path(f"{storage}{s}") for s in ("", ".index", ".tmp", ".lock")), blob_dir):
        if path.exists():
            failed.mkdir(mode=0o700, exist_ok=True)
            os.rename(path, failed / path.name)
    for source, target in moves:
        os.rename(target, source)


class Supervisor:
    """The storage's programs as supervisord runs them (or nothing, when it does not run)."""

    def __init__(self, site: Site, groups: tuple[str, ...]) -> None:
        self.programs = sorted((p for p in site.programs if p.group in groups), key=lambda p: (p.priority, p.name))
        try:
            self.rpc: Any = site.rpc()
            self.rpc.supervisor.getState()
        except (OSError, xmlrpc.client.Error):
            self.rpc = None

    def groups(self) -> list[str]:
        """The storage's groups in start order (by their first program's priority): ZEO's first."""
        order: list[str] = []
        for program in self.programs:
            if program.group not in order:
                order.append(program.group)
        return order

    def stop(self) -> None:
        """Stop group by group, dependents first; a group's processes stop together."""
        for group in reversed(self.groups()):
            print(f"  stopping {group}:*", flush=True)
            for result in self.rpc.supervisor.stopProcessGroup(group, True):
                if result["status"] != SUCCESS and "NOT_RUNNING" not in result["description"]:
                    raise OSError(f"cannot stop {group}:{result['name']}: {result['description']}")

    def start(self) -> list[str]:
        """Start group by group, ZEO's first; the processes that did not start."""
        failed = []
        for group in self.groups():
            print(f"  starting {group}:*", flush=True)
            for result in self.rpc.supervisor.startProcessGroup(group, True):
                namespec = f"{group}:{result['name']}"
                # an early exit is retried by supervisord itself (startretries): give it that chance
                if result["status"] != SUCCESS and "ALREADY_STARTED" not in result["description"] \
                        and not self.running_soon(namespec):
                    failed.append(f"{namespec} ({result['description']})")
        return failed

    def running_soon(self, namespec: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.rpc.supervisor.getProcessInfo(namespec)["statename"]
            if state == "RUNNING":
                print(f"  {namespec} RUNNING after a retry", flush=True)
                return True
            if state in ("FATAL", "STOPPED", "EXITED"):
                return False
            time.sleep(0.5)
        return False


def main(site: Site, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sitestack restore", description=describe)
    parser.add_argument("--date", help="UTC point in time, e.g. 2026-12-06-03-20 or 2026-12-06T03:20:00Z "
                                       "(default: the newest backup)")
    parser.add_argument("--list", action="store_true", help="list the complete backup points and stop")
    options = parser.parse_args(argv)
    from sitestack.backup.restore import plan, restore_date
    from sitestack.backup.take import BackupError, locked

    config = backup_config(site)
    if config is None:
        print("sitestack restore: this site has no backup part (add one to buildout.cfg and run bin/buildout)")
        return 2
    if options.list:
        for point in complete_points(Path(config.location)):
            print(f"{point.stamp}  {point.kind:<11}  transaction {point.tid} ({point.transaction_time})")
        return 0
    try:
        chosen = plan(config, restore_date(options.date))
        when = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
        with locked(config, 0, "restore"):
            return restore(site, config, chosen, when)
    except BackupError as error:
        print(f"sitestack restore: refused: {error}")
        return 2


def restore(site: Site, config: BackupConfig, chosen: Any, when: str) -> int:
    from sitestack.backup.restore import verify, write_restored
    from sitestack.backup.take import BackupError

    print(f"restoring {config.storage} and {config.blob_dir} to backup point {chosen.point.stamp} "
          f"({chosen.point.kind}, transaction {chosen.point.tid} of {chosen.point.transaction_time})", flush=True)
    stack = Supervisor(site, config.stop_groups)
    if stack.rpc is None and zeo_answers(config.zeo_address):
        raise BackupError(f"a ZEO server answers at {config.zeo_address} but this site's supervisord does not "
                          "run: stop that server first")
    if stack.rpc is not None:
        stack.stop()
    if zeo_answers(config.zeo_address) or storage_locked(config.storage):
        restarted = stack.start() if stack.rpc is not None else []
        raise BackupError(f"something still uses {config.storage} (its lock is held or {config.zeo_address} "
                          f"answers) after stopping {', '.join(config.stop_groups)}; nothing was changed"
                          + (f"; not started again: {', '.join(restarted)}" if restarted else ""))
    moves = move_aside(config, when)
    for source, target in moves:
        print(f"  kept the live {source} as {target}", flush=True)
    try:
        write_restored(config, chosen, Path(config.storage), Path(config.blob_dir))
        checked = verify(Path(config.storage), Path(config.blob_dir), chosen.point.tid)
    except (BackupError, OSError) as error:
        put_back(config, moves, when)
        failed = stack.start() if stack.rpc is not None else []
        print(f"sitestack restore: FAILED: {error}; the live data was put back"
              + (f"; not started again: {', '.join(failed)}" if failed else ""))
        return 1
    print(f"  verified: last transaction {checked.tid} ({checked.time}), {checked.objects} objects, "
          f"{checked.blobs} blobs", flush=True)
    if stack.rpc is None:
        print("restored; supervisord is not running: start the stack with bin/supervisord")
        return 0
    failed = stack.start()
    if failed:
        print(f"restored, but these did not start: {', '.join(failed)} (see var/log/)")
        return 1
    print(f"restored to {chosen.point.stamp}; the stack is running again")
    return 0

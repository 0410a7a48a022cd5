"""Restoring a backup point: the plan (checked before anything stops), the copy, the verification.

The stack is stopped and started by control/restore.py; this module only reads the backup
location and writes the new Data.fs and blob directory it is given.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ZODB.scripts import repozo

from sitestack.backup import blobs
from sitestack.backup.config import BackupConfig
from sitestack.backup.points import Point, data_files, read_point, snapshot_dir
from sitestack.backup.take import BackupError, private_files

_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[-T ](\d\d)(?:[-:](\d\d)(?:[-:](\d\d))?)?)?Z?")


def restore_date(text: str | None) -> str:
    """A --date (UTC: 2026-12-06, 2026-12-06-03-20, 2026-12-06T03:20:56Z) in repozo's full form."""
    if text is None:
        return datetime.now(timezone.utc).strftime("%Y-%m-%d-%H-%M-%S")
    match = _DATE.fullmatch(text.strip())
    if not match:
        raise BackupError(f"--date: expected a UTC time such as 2026-12-06-03-20 or 2026-12-06T03:20:00Z (got {text!r})")
    parts = [p or "00" for p in match.groups()]
    try:
        year, month, day, hour, minute, second = (int(p) for p in parts)
        datetime(year, month, day, hour, minute, second)
    except ValueError as error:
        raise BackupError(f"--date: {error} (got {text!r})") from None
    return "-".join(parts)


@dataclass(frozen=True)
class Plan:
    """What a restore to a date uses: the repozo files (oldest first) and the point they end at."""

    date: str
    files: tuple[str, ...]
    point: Point
    snapshot: Path


def plan(config: BackupConfig, date: str) -> Plan:
    """The backup set for date, checked to be complete; a BackupError says what is missing."""
    files = data_files(config.repository)
    before = [(s, k) for s, k in files if s <= date]
    if not before:
        oldest = f"; the oldest backup is {files[0][0]}" if files else f"; {config.repository} holds none"
        raise BackupError(f"no backup at or before {date}{oldest}")
    chain: list[tuple[str, str]] = []
    for stamp, kind in reversed(before):
        chain.insert(0, (stamp, kind))
        if kind == "full":
            break
    if chain[0][1] != "full":
        raise BackupError(f"incomplete backup set: no full backup before {chain[0][0]} in {config.repository}")
    stamp = chain[-1][0]
    complete = [s for s, _ in before if read_point(config.points, s) and snapshot_dir(config.blob_backups, s).is_dir()]
    hint = f"; the newest complete point before it is {complete[-1]} (--date {complete[-1]})" if complete else ""
    point = read_point(config.points, stamp)
    snapshot = snapshot_dir(config.blob_backups, stamp)
    if point is None or not snapshot.is_dir():
        missing = "its blob snapshot" if point else "its record (points/) and perhaps its blob snapshot"
        raise BackupError(f"incomplete backup set: {stamp} lacks {missing} (the backup did not finish){hint}")
    _check_sizes(config, chain)
    names = tuple(str(config.repository / f"{s}.{'fs' if k == 'full' else 'deltafs'}") for s, k in chain)
    return Plan(date, names, point, snapshot)


def _check_sizes(config: BackupConfig, chain: list[tuple[str, str]]) -> None:
    """Every repozo file of the chain is there with the size its .dat records."""
    dat = config.repository / f"{chain[0][0]}.dat"
    try:
        lines = [line.split() for line in dat.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        raise BackupError(f"incomplete backup set: {dat} is missing") from None
    sizes = {Path(words[0]).name: int(words[2]) - int(words[1]) for words in lines if len(words) == 4}
    for stamp, kind in chain:
        name = f"{stamp}.{'fs' if kind == 'full' else 'deltafs'}"
        path = config.repository / name
        if not path.is_file():
            raise BackupError(f"incomplete backup set: {path} is missing")
        if sizes.get(name) != path.stat().st_size:
            raise BackupError(f"incomplete backup set: {path} is {path.stat().st_size} bytes, "
                              f"{dat.name} says {sizes.get(name)}")


def write_restored(config: BackupConfig, chosen: Plan, storage: Path, blob_dir: Path) -> None:
    """Data.fs (repozo -R, checksums verified on the way) and the blob directory, both new paths."""
    with private_files():
        storage.parent.mkdir(parents=True, exist_ok=True)
        try:
            repozo.main(["-R", "-w", "-r", str(config.repository), "-D", chosen.point.stamp, "-o", str(storage)])
        except SystemExit as exit_:
            if exit_.code not in (None, 0):
                raise BackupError(f"repozo could not restore: {exit_.code}") from None
        blobs.copy_back(chosen.snapshot, blob_dir)


@dataclass(frozen=True)
class Verified:
    tid: str
    time: str
    objects: int
    blobs: int


def verify(storage: Path, blob_dir: Path, expected_tid: str) -> Verified:
    """Open the restored storage; its last transaction must be the point's; every current blob readable."""
    from ZODB.blob import is_blob_record
    from ZODB.FileStorage import FileStorage
    from ZODB.POSException import POSKeyError

    from sitestack.backup.take import _tid_time

    fs = FileStorage(str(storage), read_only=True, blob_dir=str(blob_dir))
    try:
        tid = fs.lastTransaction()
        if tid.hex() != expected_tid:
            raise BackupError(f"restored {storage} ends at transaction {tid.hex()}, the backup at {expected_tid}")
        objects = blob_count = 0
        cursor = None
        while True:
            oid, serial, data, cursor = fs.record_iternext(cursor)
            objects += 1
            if is_blob_record(data):
                try:
                    os.stat(fs.loadBlob(oid, serial))
                except (POSKeyError, OSError):
                    raise BackupError(f"restored blob directory lacks the blob of object {oid.hex()}") from None
                blob_count += 1
            if cursor is None:
                break
        return Verified(tid.hex(), _tid_time(tid), objects, blob_count)
    finally:
        fs.close()

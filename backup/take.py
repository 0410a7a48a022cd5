"""bin/backup's work: a repozo backup, the blob snapshot that goes with it, retention, and the pack.

The order is collective.recipe.backup's: repozo first (it copies Data.fs up to the end of the
last committed transaction), then the blobs. A committed transaction's blob files are in the blob
directory before its record is in Data.fs, so the snapshot holds every blob the repozo file
refers to (and perhaps a few of later transactions, which are harmless). The only thing that
removes blob files is a pack; packs and backups take the same lock, so they never overlap.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import zc.lockfile
from ZODB.scripts import repozo
from ZODB.TimeStamp import TimeStamp

from sitestack.backup import blobs
from sitestack.backup.config import BackupConfig
from sitestack.backup.points import Point, data_files, last_transaction, read_point, snapshot_dir


class BackupError(Exception):
    """Something an operator must see: one line, no traceback."""


@contextmanager
def locked(config: BackupConfig, wait: float, doing: str) -> Iterator[None]:
    """Hold the location's lock; wait up to `wait` seconds for a backup, pack or restore to finish."""
    deadline = time.monotonic() + wait
    while True:
        try:
            lock = zc.lockfile.LockFile(str(config.lock))
            break
        except zc.lockfile.LockError:
            if time.monotonic() >= deadline:
                holder = _read(config.lock).strip() or "?"
                raise BackupError(f"cannot {doing}: another backup, pack or restore holds {config.lock} "
                                  f"(pid {holder}); try again when it has finished") from None
            time.sleep(0.5)
    try:
        yield
    finally:
        lock.close()


@contextmanager
def locked_location(config: BackupConfig, wait: float, doing: str) -> Iterator[None]:
    """The location made (0700) and locked."""
    prepare(config)
    with locked(config, wait, doing):
        yield


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@contextmanager
def private_files() -> Iterator[None]:
    """Files and folders made meanwhile (repozo's too) are for the owner only; the umask is put back."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def prepare(config: BackupConfig) -> None:
    """The location and its folders, 0700."""
    for path in (Path(config.location), config.repository, config.blob_backups, config.points):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)


def run_repozo(config: BackupConfig, full: bool) -> None:
    argv = ["-B", "-r", str(config.repository), "-f", config.storage] + (["-F"] if full else ["-Q"])
    try:
        repozo.main(argv)
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            raise BackupError(f"repozo failed: {exit_.code}") from None


def take_backup(config: BackupConfig, full: bool, wait: float = 600) -> Point:
    """One backup point (full or, when repozo can, incremental); retention after it."""
    if not Path(config.storage).is_file():
        raise BackupError(f"no FileStorage at {config.storage}: nothing to back up")
    with private_files(), locked_location(config, wait, "back up"):
        run_repozo(config, full)
        files = data_files(config.repository)
        if not files:
            raise BackupError(f"repozo wrote nothing into {config.repository}")
        stamp, kind = files[-1]
        point = read_point(config.points, stamp) or record_point(config, stamp, kind, files)
        apply_retention(config)
    return point


def record_point(config: BackupConfig, stamp: str, kind: str, files: list[tuple[str, str]]) -> Point:
    """Snapshot the blobs for the newest repozo file, then write the point's record (the last step)."""
    target = snapshot_dir(config.blob_backups, stamp)
    partial = target.with_name(target.name + ".partial")
    blobs.remove_tree(partial)
    earlier = [s for s, _ in files if s < stamp and snapshot_dir(config.blob_backups, s).is_dir()]
    previous = snapshot_dir(config.blob_backups, earlier[-1]) if earlier else None
    if target.is_dir():
        copied = blobs.CopyResult(*_count(target))
    else:
        copied = blobs.snapshot(Path(config.blob_dir), partial, previous)
        os.rename(partial, target)
    ext = ".fs" if kind == "full" else ".deltafs"
    tid = last_transaction(config.repository / f"{stamp}{ext}")
    if tid is None:
        raise BackupError(f"{config.repository / (stamp + ext)} does not end with a whole transaction")
    full_size = _restored_size(config.repository, stamp)
    point = Point(stamp=stamp, kind=kind, tid=tid.hex(), transaction_time=_tid_time(tid),
                  filestorage_bytes=full_size, blob_files=copied.files, blob_bytes=copied.bytes)
    record = config.points / f"{stamp}.json"
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(asdict(point), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, record)
    return point


def _count(directory: Path) -> tuple[int, int]:
    sizes = [p.stat().st_size for p in directory.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes)


def _restored_size(repository: Path, stamp: str) -> int:
    """Data.fs bytes at this point: the end position repozo recorded for it in its .dat file."""
    for dat in sorted(repository.glob("*.dat")):
        for line in _read(dat).splitlines():
            words = line.split()
            if len(words) == 4 and Path(words[0]).name.startswith(stamp + "."):
                return int(words[2])
    return 0


def _tid_time(tid: bytes) -> str:
    seconds = TimeStamp(tid).timeTime()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def apply_retention(config: BackupConfig) -> list[str]:
    """Remove every point older than the `keep`-th newest full backup; the stamps removed."""
    files = data_files(config.repository)
    fulls = [stamp for stamp, kind in files if kind == "full"]
    for leftover in config.blob_backups.glob("*.partial"):
        blobs.remove_tree(leftover)
    if len(fulls) <= config.keep:
        return []
    cutoff = fulls[-config.keep]
    removed = sorted({stamp for stamp, _ in files if stamp < cutoff})
    for stamp in removed:
        for suffix in (".fs", ".fsz", ".deltafs", ".deltafsz", ".dat", ".index"):
            (config.repository / f"{stamp}{suffix}").unlink(missing_ok=True)
        (config.points / f"{stamp}.json").unlink(missing_ok=True)
        blobs.remove_tree(snapshot_dir(config.blob_backups, stamp))
    return removed


def pack(config: BackupConfig, days: float, wait: float = 600, connect_timeout: float = 30) -> float:
    """Pack the storage through the running ZEO server, keeping `days` of history; the pack time."""
    from ZEO.ClientStorage import ClientStorage

    zeo = config.zeo_address
    with private_files(), locked_location(config, wait, "pack"):
        storage = ClientStorage((zeo.host, zeo.port), wait=False, read_only=True)
        try:
            deadline = time.monotonic() + connect_timeout
            while not storage.is_connected():
                if time.monotonic() > deadline:
                    raise BackupError(f"cannot pack: no ZEO server answers at {config.zeo_address}")
                time.sleep(0.1)
            when = time.time() - days * 86400
            storage.pack(when, wait=True)
        finally:
            storage.close()
    return when

"""Backup points in a location: what is there, what is complete, the newest one (for status and metrics)."""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

# repozo's own file names: <UTC yyyy-mm-dd-hh-mm-ss>.fs (full) or .deltafs (incremental), z when gzipped
DATA_FILE = re.compile(r"(\d{4}(?:-\d\d){5})\.(delta)?fsz?")
STAMP = "%Y-%m-%d-%H-%M-%S"


@dataclass(frozen=True)
class Point:
    """One complete backup point: a repozo file, the blob snapshot taken right after it, its record."""

    stamp: str  # repozo's UTC time stamp, also the blob snapshot's name
    kind: str  # "full" or "incremental"
    tid: str  # hex id of the last transaction in the backup
    transaction_time: str  # that transaction's time, ISO 8601 UTC
    filestorage_bytes: int  # size of the Data.fs this point restores
    blob_files: int
    blob_bytes: int

    @property
    def time(self) -> datetime:
        return datetime.strptime(self.stamp, STAMP).replace(tzinfo=timezone.utc)

    @property
    def size(self) -> int:
        """Bytes a restore to this point writes (Data.fs and blobs)."""
        return self.filestorage_bytes + self.blob_bytes


def stamp_of(name: str) -> tuple[str, str] | None:
    """(stamp, kind) of a repozo data file name, or None for any other file."""
    match = DATA_FILE.fullmatch(name)
    if not match:
        return None
    return match.group(1), "incremental" if match.group(2) else "full"


def data_files(repository: Path) -> list[tuple[str, str]]:
    """(stamp, kind) of every repozo data file, oldest first."""
    try:
        names = os.listdir(repository)
    except FileNotFoundError:
        return []
    return sorted(found for name in names if (found := stamp_of(name)))


def snapshot_dir(blob_backups: Path, stamp: str) -> Path:
    return blob_backups / f"blobstorage.{stamp}"


def read_point(points: Path, stamp: str) -> Point | None:
    try:
        return Point(**json.loads((points / f"{stamp}.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def complete_points(location: Path) -> list[Point]:
    """Every point whose repozo file, blob snapshot and record are all there, oldest first."""
    found = []
    for stamp, _kind in data_files(location / "filestorage"):
        point = read_point(location / "points", stamp)
        if point and snapshot_dir(location / "blobstorage", stamp).is_dir():
            found.append(point)
    return found


def newest_backup(location: str | Path) -> Point | None:
    """The newest complete backup point in location (its .time and .size), or None.

    Reads only the location, writes nothing: the metrics exporter and `bin/sitestack status`
    both call it.
    """
    points = complete_points(Path(location))
    return points[-1] if points else None


def disk_usage(location: str | Path) -> int:
    """Bytes the location takes on disk, each hard-linked blob counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _dirs, files in os.walk(location):
        for name in files:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def last_transaction(path: Path) -> bytes | None:
    """The id of the last transaction in a FileStorage file or a repozo file that ends one.

    A transaction record ends with its length (8 bytes) and starts with its id, so the last one
    is found from the end of the file without reading the rest.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size < 8 + 23:
            return None
        handle.seek(size - 8)
        (length,) = struct.unpack(">Q", handle.read(8))
        start = size - 8 - length
        if start < 0:
            return None
        handle.seek(start)
        header = handle.read(16)
        if len(header) < 16 or struct.unpack(">Q", header[8:16])[0] != length:
            return None
        return header[:8]

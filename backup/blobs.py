"""Blob directory copies: a snapshot for a backup point, and the copy back for a restore.

As collective.recipe.backup does with `rsync -a --link-dest`: a file already in the previous
snapshot (same path and size; ZODB never changes a blob file once written) is hard-linked to it,
every other file is copied. Nothing is ever linked to the live directory, so damage to a live
blob cannot reach a backup.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SKIP = frozenset({"tmp"})  # ZODB's temporary files of transactions not yet committed


@dataclass(frozen=True)
class CopyResult:
    files: int = 0
    bytes: int = 0
    linked: int = 0


def snapshot(live: Path, target: Path, previous: Path | None) -> CopyResult:
    """Copy the blob tree live into target (which must not exist), linking unchanged files to previous."""
    files = size = linked = 0
    os.makedirs(target, mode=0o700)
    for directory, dirs, names in os.walk(live):
        relative = Path(directory).relative_to(live)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIP]
        for name in dirs:
            os.makedirs(target / relative / name, mode=0o700, exist_ok=True)
        for name in names:
            source, dest = Path(directory) / name, target / relative / name
            try:
                length = source.stat().st_size
            except FileNotFoundError:  # removed meanwhile: a blob of an aborted transaction
                continue
            old = previous / relative / name if previous else None
            if old is not None and old.is_file() and old.stat().st_size == length:
                os.link(old, dest)
                linked += 1
            else:
                try:
                    shutil.copyfile(source, dest)
                except FileNotFoundError:
                    continue
                os.chmod(dest, 0o600)
            files += 1
            size += length
    return CopyResult(files, size, linked)


def copy_back(snapshot_dir: Path, live: Path) -> CopyResult:
    """Copy a snapshot into a new live blob directory (real copies: the backup stays untouched)."""
    files = size = 0
    for directory, dirs, names in os.walk(snapshot_dir):
        relative = Path(directory).relative_to(snapshot_dir)
        os.makedirs(live / relative, mode=0o700, exist_ok=True)
        for name in names:
            dest = live / relative / name
            shutil.copyfile(Path(directory) / name, dest)
            # ZODB keeps committed blob files read-only
            os.chmod(dest, 0o600 if name == ".layout" else 0o400)
            files += 1
            size += dest.stat().st_size
    os.chmod(live, 0o700)
    return CopyResult(files, size)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

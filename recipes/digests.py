"""What each supervised program runs from, as a digest, and its history (when each digest appeared).

bin/buildout records the history; `bin/sitestack reload` compares the digest current when a
process started with the one now, and restarts only the programs whose files changed.
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from pathlib import Path

CONFIG_SUFFIXES = (".conf", ".cfg", ".vcl", ".ini", ".json", ".zcml")
KEEP = 20  # history entries kept per program
_QUOTED_PATH = re.compile(r"""['"](/[^'"\s]+)['"]""")


def program_files(command: str, directory: Path) -> list[Path]:
    """Files under the site a program runs from: those its command names, and the config files
    those name in quotes (bin/zeoserver names zeo.conf)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    found: list[Path] = []
    for word in words:
        path = Path(word)
        if path.is_absolute() and directory in path.parents and path.is_file():
            found.append(path)
            if path.stat().st_size < 256 * 1024:
                for match in _QUOTED_PATH.findall(path.read_text(encoding="utf-8", errors="replace")):
                    inner = Path(match)
                    if inner.suffix in CONFIG_SUFFIXES and directory in inner.parents and inner.is_file():
                        found.append(inner)
    return found


def digest(command: str, directory: Path) -> str:
    """sha256 of the command and the content of every file it runs from."""
    hashed = hashlib.sha256(command.encode("utf-8", "surrogateescape"))
    for path in program_files(command, directory):
        hashed.update(b"\0" + str(path).encode("utf-8", "surrogateescape") + b"\0" + path.read_bytes())
    return hashed.hexdigest()


def read_history(path: Path) -> dict[str, list[list[object]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(path: Path, commands: dict[str, str], directory: Path, now: float | None = None) -> dict[str, list[list[object]]]:
    """Append each program's digest to its history when it differs from the last one."""
    history = read_history(path)
    stamp = time.time() if now is None else now
    for name, command in commands.items():
        current = digest(command, directory)
        entries = history.setdefault(name, [])
        if not entries or entries[-1][1] != current:
            entries.append([stamp, current])
            del entries[:-KEEP]
    return history


def digest_at(history: dict[str, list[list[object]]], name: str, moment: float) -> str | None:
    """The digest a program had at a moment (the last one recorded before it), or None."""
    before = [entry for entry in history.get(name, []) if float(entry[0]) <= moment]  # type: ignore[arg-type]
    return str(before[-1][1]) if before else None

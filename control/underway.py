"""var/restarting.json: which programs a restart is handling right now, and by which process.

The restart routine (sitestack.control.restart) writes an entry before it drains a client and removes it
when the client is back; the watchdog reads it and leaves such a client alone (no restart, no
alert). An entry whose writer died (a killed `bin/sitestack rolling-restart`) does not count.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sitestack.control.processes import alive

NAME = "restarting.json"


class UnderWay:
    """{namespec: [pid of the restarting process, since (epoch seconds)]} in var/restarting.json."""

    def __init__(self, var: Path) -> None:
        self.path = var / NAME

    def read(self) -> dict[str, tuple[int, float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): (int(v[0]), float(v[1])) for k, v in data.items() if alive(int(v[0]))}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            return {}

    def handling(self) -> set[str]:
        """The namespecs a live restart is handling now."""
        return set(self.read())

    def by_other(self, namespec: str) -> int:
        """The pid of another live process restarting namespec, or 0."""
        pid = self.read().get(namespec, (0, 0.0))[0]
        return pid if pid and pid != os.getpid() else 0

    def begin(self, namespec: str) -> None:
        entries = self.read()
        entries[namespec] = (os.getpid(), time.time())
        self._write(entries)

    def end(self, namespec: str) -> None:
        entries = self.read()
        if entries.pop(namespec, None) is not None:
            self._write(entries)

    def _write(self, entries: dict[str, tuple[int, float]]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: list(v) for k, v in entries.items()}, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
        os.replace(tmp, self.path)

"""bin/sitestack check, one module per consumer: each check takes the site's description
(site.json) and yields findings; nothing here parses a generated file to learn a path or a name."""
from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"
TIMEOUT = 60


@dataclass(frozen=True)
class Finding:
    status: str
    what: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}" + (f": {self.detail}" if self.detail else "")


def words(command: str) -> list[str]:
    """A program's command line split as supervisor splits it."""
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def binary_name(command: str) -> str:
    found = words(command)
    return os.path.basename(found[0]) if found else ""


def run(command: list[str]) -> tuple[int, str]:
    """Run a consumer's check; (exit code, the last few lines worth showing)."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return -1, str(error)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    alerts = [line for line in lines if "ALERT" in line or "Error" in line or "error" in line]
    return result.returncode, " | ".join((alerts or lines)[-3:])

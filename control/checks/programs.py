"""Every program's binary is there, and crontab for the @reboot line."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

from sitestack.control.checks import FAIL, OK, WARN, Finding, words
from sitestack.recipes.description import Site


@dataclass(frozen=True)
class Command:
    """A [program:x] of the site: its command split into words, and its user."""

    name: str
    words: tuple[str, ...]
    user: str


def commands(site: Site) -> list[Command]:
    """One per [program:x] section (a pool's processes share one)."""
    found: dict[str, Command] = {}
    for program in site.programs:
        found.setdefault(program.section, Command(program.section, tuple(words(program.command)), program.user))
    return list(found.values())


def check_binaries(programs: list[Command]) -> Iterator[Finding]:
    missing = 0
    for program in programs:
        binary = program.words[0] if program.words else ""
        if binary and os.path.isabs(binary) and os.access(binary, os.X_OK):
            continue
        if not (binary and shutil.which(binary)):
            missing += 1
            yield Finding(FAIL, f"{program.name}: binary", f"{binary or '(no command)'} not found or not executable")
    if not missing:
        yield Finding(OK, "binaries", f"every program's command is there ({len(programs)} programs)")
    crontab = shutil.which("crontab")
    yield Finding(OK, "crontab", crontab) if crontab else Finding(WARN, "crontab", "not found: the @reboot line cannot be installed")

"""The worker pool part (sitestack:worker): bin/<part> consuming the ZODB job queue, run numprocs times.

Every option of supervisor's [program:x] is accepted under supervisor's spelling (numprocs,
process_name, startsecs, ...); the worker's own options use dashes (time-limit, max-jobs, ...).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.adapter import Paths, egg_scripts, user_errors
from sitestack.recipes.application import MIN_MEMORY_QUOTA
from sitestack.recipes.clients import requirements
from sitestack.recipes.errors import Invalid
from sitestack.recipes.files import ensure_directory
from sitestack.recipes.options import OptionReader
from sitestack.recipes.program_model import OWN_OPTIONS, read_program
from sitestack.recipes.publish import publish
from sitestack.recipes.supervisor_model import PROGRAM_OPTIONS
from sitestack.recipes.system import chown_tree, program_user

WORKER_OPTIONS = (
    "zeo-address", "handler", "time-limit", "max-jobs", "lease", "max-attempts", "poll-interval",
    "work-delay", "connect-timeout", "eggs",
)
EGGS = ("ZEO", "ZODB", "waitress")  # sitestack.demoapp.jobs imports demoapp, which imports appserver
# sitestack's defaults for a pool; any of them can be set in the part
DEFAULTS = {
    "process_name": "%(program_name)s_%(process_num)02d",
    "priority": "25",
    "autorestart": "true",
    "exitcodes": "0",
    "startsecs": "1",
    "stopwaitsecs": "10",
}


def _handler(text: str) -> str:
    module, sep, attribute = text.strip().partition(":")
    if not sep or not module or not attribute or any(c.isspace() for c in text.strip()):
        raise Invalid("expected module:callable such as sitestack.demoapp.jobs:handle")
    return text.strip()


def _seconds(low: float, high: float) -> Any:
    def convert_(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise Invalid(f"expected a number of seconds from {low:g} to {high:g}") from None
        if not low <= value <= high:
            raise Invalid(f"expected a number of seconds from {low:g} to {high:g}")
        return value

    return convert_


def worker_arguments(reader: OptionReader, blob_cache: Path, startsecs: int) -> list[str]:
    """bin/<part>'s arguments from the worker options."""
    zeo = reader.require("zeo-address", convert.address)
    arguments = [
        "--zeo", str(zeo or ""),
        "--blob-cache", str(blob_cache),
        "--handler", reader.get("handler", _handler, "sitestack.demoapp.jobs:handle"),
        "--time-limit", f"{reader.get('time-limit', _seconds(0, 10**7), 3600.0):g}",
        "--max-jobs", str(reader.get("max-jobs", lambda t: convert.integer(t, 0), 1000)),
        "--lease", f"{reader.get('lease', _seconds(0.1, 86400), 30.0):g}",
        "--max-attempts", str(reader.get("max-attempts", lambda t: convert.integer(t, 1, 1000), 5)),
        "--poll-interval", f"{reader.get('poll-interval', _seconds(0.01, 60), 0.5):g}",
        "--work-delay", f"{reader.get('work-delay', _seconds(0, 3600), 0.0):g}",
        "--connect-timeout", f"{reader.get('connect-timeout', _seconds(0, 86400), 60.0):g}",
        # a planned exit before supervisor's startsecs would count as a failed start
        "--min-runtime", str(startsecs + 1),
    ]
    return arguments


class Recipe:
    """zc.buildout adapter: read options, publish the pool, write bin/<part>."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, (*OWN_OPTIONS, *PROGRAM_OPTIONS, *WORKER_OPTIONS))
            script = self.paths.bin / name
            defaults = dict(DEFAULTS, directory=str(self.paths.parts / name))
            program = read_program(name, reader, default_command=str(script), defaults=defaults)
            program = dataclasses.replace(
                program, group=program.group or "workers",
                memory_quota=program.memory_quota if reader.has("memory-quota") else 300 * 1024**2)
            if program.memory_quota is not None and program.memory_quota < MIN_MEMORY_QUOTA:
                reader.problem("memory-quota", "a worker needs more than that to start; expected at least "
                               f"{convert.format_size(MIN_MEMORY_QUOTA)}", reader.raw("memory-quota").strip())
            # as root, workers run as `user` (like the clients): it must reach their script, eggs and Python
            reach = [script, Path(os.__file__)]
            if eggs := buildout["buildout"].get("eggs-directory"):
                reach.append(Path(eggs) / "egg")
            self.user = program_user(reader, reach) if reader.has("user") else ""
            program = dataclasses.replace(program, user=self.user)
            startsecs = program.startsecs
            self.blob_cache = self.paths.var / "blobcache" / name  # worker_00, worker_01, ... below it
            self.arguments = worker_arguments(reader, self.blob_cache, startsecs)
            self.eggs = [*EGGS, *reader.get("eggs", requirements, list[str]())]
            reader.done()
        self.program = program
        publish(options, [program])

    def install(self) -> list[str]:
        ensure_directory(self.paths.parts / self.name)
        # the parents as the clients part makes them (0755); the caches themselves are private
        ensure_directory(self.blob_cache, 0o700)
        if self.user:
            chown_tree(self.blob_cache, self.user)
        return egg_scripts(self.buildout, self.eggs, [(self.name, "sitestack.worker", "main")],
                           initialization=f"sys.argv[1:1] = {self.arguments!r}")

    update = install

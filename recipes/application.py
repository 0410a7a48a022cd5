"""Checks of an app client's application before anything is written: importable, and a quota it can start in."""
from __future__ import annotations

import configparser
import hashlib
import os
import subprocess
import sys
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.options import OptionReader

# A client (appserver + ZEO client + the demo app) is about 33 MB resident right after it starts and
# about 40 MB once it has served; a quota below this floor would have memmon restart it for ever.
MIN_MEMORY_QUOTA = 64 * 1024**2
_IMPORT = """
import importlib, sys
module, _, name = sys.argv[1].partition(":")
target = importlib.import_module(module)
for attribute in name.split("."):
    target = getattr(target, attribute)
if not callable(target):
    raise SystemExit(f"{sys.argv[1]} is not callable")
"""


def memory_quota(reader: OptionReader, what: str = "client", option: str = "memory-quota",
                 default: int = 800 * 1024**2) -> int:
    """A memory quota of at least MIN_MEMORY_QUOTA."""
    quota = reader.get(option, convert.byte_size, default)
    if quota < MIN_MEMORY_QUOTA:
        reader.problem(option, f"a {what} needs more than that to start; expected at least "
                       f"{convert.format_size(MIN_MEMORY_QUOTA)}", reader.raw(option).strip())
    return quota


def installed_option(buildout: Any, part: str, option: str) -> str:
    """An option of the part as the last successful bin/buildout recorded it in .installed.cfg."""
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    try:
        parser.read(buildout["buildout"]["installed"], encoding="utf-8")
        return parser.get(part, option, fallback="")
    except (configparser.Error, KeyError, OSError):
        return ""


def check_importable(reader: OptionReader, application: str, locations: list[str], user: str,
                     last: str = "") -> str:
    """Import module:callable as the clients will: their eggs first on sys.path, as their user.

    Returns a digest of what was tried; when it equals `last` (the same application, eggs and user
    passed the last build) the import is not tried again, keeping a no-change re-run fast.
    """
    digest = hashlib.sha256(repr((application, locations, user)).encode()).hexdigest()[:16]
    if digest == last:
        return digest
    code = f"import sys\nsys.path[0:0] = {locations!r}\n{_IMPORT}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        result = subprocess.run([sys.executable, "-c", code, application], capture_output=True, text=True,
                                cwd="/", env=env, timeout=60, stdin=subprocess.DEVNULL, user=user or None)
    except (OSError, subprocess.SubprocessError) as error:
        reader.problem("application", f"could not try to import it: {error}", application)
        return digest
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit status {result.returncode}"
        reader.problem("application", f"cannot be imported in the clients' environment: {why}", application)
    return digest

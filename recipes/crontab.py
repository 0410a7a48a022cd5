"""The crontab part: a marked block in the user's crontab that starts the stack at boot.

The block and its merge/remove are pure (recipes/crontab_model.py); this module runs the
read and write commands and adapts to zc.buildout. Unlike z3c.recipe.usercrontab, a
missing or failing crontab command is an error, never a silent success.
"""
from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.adapter import Paths, user_errors
from sitestack.recipes.crontab_model import (
    DEFAULT_PATH,
    CronEntry,
    block_key,
    command_line,
    cron_command,
    cron_line,
    cron_times,
    environment,
    merge,
    remove,
    render_crontab_block,
)
from sitestack.recipes.errors import ConfigError
from sitestack.recipes.files import ensure_directory
from sitestack.recipes.options import OptionReader

OPTIONS = ("times", "command", "read-command", "write-command", "environment", "enabled")
READ_COMMAND = "crontab -l"
WRITE_COMMAND = "crontab -"
PACKAGES = {"crontab": "cron"}
TIMEOUT = 60


# ---- I/O: the crontab commands ----------------------------------------------------------

def missing_program(command: str) -> str | None:
    """Why command cannot run (its program is not found), or None."""
    program = shlex.split(command)[0]
    if shutil.which(program):
        return None
    if "/" in program and Path(program).is_file():
        return f"{program!r} is not executable"
    package = PACKAGES.get(Path(program).name)
    hint = f"; install it with: apt-get install -y {package}" if package else ""
    return f"{program!r} not found{hint}"


def run_command(option: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run command without a shell; not finding it, or a timeout, is a ConfigError."""
    problem = missing_program(command)
    if problem is None:
        try:
            return subprocess.run(
                shlex.split(command), capture_output=True, timeout=TIMEOUT,
                input=None if stdin is None else stdin.encode("utf-8", "surrogateescape"),
            )
        except OSError as error:
            problem = f"cannot run it: {error.strerror or error}"
        except subprocess.TimeoutExpired:
            problem = f"did not finish within {TIMEOUT} seconds"
    raise ConfigError.single(option, problem, command)


def _failure(result: subprocess.CompletedProcess[bytes]) -> str:
    message = f"exited with {result.returncode}"
    if result.returncode < 0:
        message = f"killed by signal {-result.returncode}"
    errors = result.stderr.decode("utf-8", "replace").strip().splitlines()
    return message + (f": {errors[0]}" if errors else "")


def read_crontab(command: str) -> str:
    """The current crontab; 'no crontab for <user>' is an empty one."""
    result = run_command("read-command", command)
    if result.returncode != 0:
        if result.stderr.decode("utf-8", "replace").strip().startswith("no crontab for "):
            return ""
        raise ConfigError.single("read-command", _failure(result), command)
    return result.stdout.decode("utf-8", "surrogateescape")


def write_crontab(command: str, text: str) -> None:
    """Install text as the whole crontab."""
    result = run_command("write-command", command, text)
    if result.returncode != 0:
        raise ConfigError.single("write-command", _failure(result), command)


def apply_crontab(read: str, write: str, change: Callable[[str], str]) -> bool:
    """Read the crontab, change it (a pure function), write it back only if it changed."""
    existing = read_crontab(read)
    new = change(existing)
    if new == existing:
        return False
    write_crontab(write, new)
    return True


# ---- the zc.buildout adapter ------------------------------------------------------------

class Recipe:
    """zc.buildout adapter: validate and publish in __init__, merge the block in install."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.name, self.options = name, options
        paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            read = reader.get("read-command", command_line, READ_COMMAND)
            write = reader.get("write-command", command_line, WRITE_COMMAND)
            for option, command in (("read-command", read), ("write-command", write)):
                problem = missing_program(command)
                if problem:
                    reader.problem(option, problem, command)
            if not any(p.option == "read-command" for p in reader.problems):
                # Read once now: failing in install would come after buildout has already
                # uninstalled the previous block (it uninstalls a changed part first).
                try:
                    read_crontab(read)
                except ConfigError as error:
                    reader.problems.extend(error.problems)
            no_environment: tuple[tuple[str, str], ...] = ()
            env = dict(reader.get("environment", environment, no_environment))
            self.entry = CronEntry(
                times=reader.get("times", cron_times, "@reboot"),
                command=reader.get("command", cron_command, shlex.quote(str(paths.bin / "supervisord"))),
                logfile=str(paths.var / "log" / f"crontab-{name}.log"),
                environment=tuple({"PATH": DEFAULT_PATH, **env}.items()),
                enabled=reader.get("enabled", convert.boolean, True),
            )
            if "\n" in str(paths.directory):
                reader.problem("buildout-directory", "a crontab marker cannot hold a newline", str(paths.directory))
            reader.done()
        self.read, self.write = read, write
        self.key = block_key(str(paths.directory), name)
        self.block = render_crontab_block(self.key, self.entry)
        options.update({
            "times": self.entry.times, "command": self.entry.command, "read-command": read,
            "write-command": write, "enabled": "true" if self.entry.enabled else "false",
            "environment": "\n".join(f"{k}={v}" for k, v in self.entry.environment),
            "buildout-directory": str(paths.directory), "key": self.key,
            "logfile": self.entry.logfile, "entry": cron_line(self.entry),
        })

    def install(self) -> tuple[str, ...]:
        # Without its directory, the '>>' in the line fails and cron never runs the command.
        ensure_directory(Path(self.entry.logfile).parent)
        with user_errors(self.name):
            changed = apply_crontab(self.read, self.write, lambda text: merge(text, self.block, self.key))
        logging.getLogger(self.name).info(
            "crontab block %s %s", self.key, "written" if changed else "unchanged"
        )
        return ()

    update = install


def uninstall(name: str, options: Mapping[str, str]) -> None:
    """Remove exactly the block the installed options describe (zc.buildout.uninstall)."""
    with user_errors(name):
        key = options.get("key") or (
            block_key(options["buildout-directory"], name) if "buildout-directory" in options else ""
        )
        if not key:
            raise ConfigError.single("key", "the installed part does not say which crontab block is its own")
        read = options.get("read-command", READ_COMMAND)
        write = options.get("write-command", WRITE_COMMAND)
        if not apply_crontab(read, write, lambda text: remove(text, key)):
            logging.getLogger(name).warning("no crontab block %s found; nothing to remove", key)

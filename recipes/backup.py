"""The backup part (sitestack:backup): bin/backup, its settings, and its cron lines.

bin/backup takes repozo backups of the ZEO server's FileStorage with a blob snapshot for each
(backup/take.py); `bin/sitestack restore` restores them. The cron lines sit in one marked block
of the user's crontab, managed like the crontab part's (recipes/crontab.py): replaced on re-run,
removed with the part.
"""
from __future__ import annotations

import logging
import shlex
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from sitestack.backup.config import BackupConfig, encode
from sitestack.backup.schedule import longest_gap
from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.adapter import Paths, created, egg_scripts, user_errors
from sitestack.recipes.crontab import READ_COMMAND, WRITE_COMMAND, apply_crontab, missing_program, read_crontab
from sitestack.recipes.crontab_model import DEFAULT_PATH, CronEntry, block_key, command_line, cron_line, cron_times, merge
from sitestack.recipes.crontab_model import render_crontab_block
from sitestack.recipes.errors import ConfigError, Invalid
from sitestack.recipes.files import cannot_create, ensure_directory, write_if_changed
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import collect

OPTIONS = (
    "location", "keep", "full", "incremental", "pack", "pack-days", "max-age", "storage", "blob-dir",
    "zeo-address", "stop-parts", "enabled", "read-command", "write-command",
)
SCHEDULES = {"full": "0 3 * * *", "incremental": "30 * * * *", "pack": "0 4 * * 0"}
GRACE = 15 * 60  # a backup may take this long past its schedule before check calls it late
EGGS = ("ZEO", "ZODB")


def schedule(text: str) -> str:
    """Cron times for a job that runs again and again: five fields or @hourly, @daily, ..."""
    value = cron_times(text)
    if value == "@reboot":
        raise Invalid("expected a repeating schedule such as '0 3 * * *' or @daily (@reboot runs only at boot)")
    return value


def outside(var: Path, others: list[tuple[str, str]]) -> Any:
    """A converter: an absolute (or buildout-relative) directory outside var/ and the live data."""
    def location(text: str) -> Path:
        path = Path(convert.single_line(text))
        if not path.is_absolute():
            raise Invalid("expected an absolute path such as /srv/backups/mysite")
        resolved = path.resolve()
        for what, live in [("var/", str(var)), *others]:
            live_path = Path(live).resolve()
            if resolved == live_path or live_path in resolved.parents:
                raise Invalid(f"expected a directory outside {what} ({live}): losing it would lose the backups too")
        return path
    return location


class Recipe:
    """zc.buildout adapter: validate and publish in __init__; write backup.json, bin/backup, cron lines."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            storage = reader.get("storage", convert.single_line, str(self.paths.var / "filestorage" / "Data.fs"))
            blob_dir = reader.get("blob-dir", convert.single_line, str(self.paths.var / "blobstorage"))
            others = [("the FileStorage's directory", str(Path(storage).parent)), ("the blob directory", blob_dir)]
            location = reader.get("location", outside(self.paths.var, others), self.paths.directory / "backups")
            if not any(p.option == "location" for p in reader.problems) and (problem := cannot_create(location)):
                reader.problem("location", problem, reader.raw("location").strip() or str(location))
            times = {job: reader.get(job, schedule, default) for job, default in SCHEDULES.items()}
            gap = longest_gap([times["full"], times["incremental"]])
            max_age = reader.get("max-age", convert.duration, None)
            self.config = BackupConfig(
                storage=storage, blob_dir=blob_dir, location=str(location),
                keep=reader.get("keep", lambda t: convert.integer(t, 1, 1000), 2),
                zeo_address=reader.require("zeo-address", convert.address) or Address("127.0.0.1", 8100),
                pack_days=reader.get("pack-days", lambda t: convert.integer(t, 0, 36500), 7),
                max_age=int(max_age.seconds) if max_age else gap + GRACE,
                schedules=times, stop_groups=self._stop_groups(buildout, reader),
            )
            self.enabled = reader.get("enabled", convert.boolean, True)
            self.read = reader.get("read-command", command_line, READ_COMMAND)
            self.write = reader.get("write-command", command_line, WRITE_COMMAND)
            self._check_crontab(reader)
            reader.done()
        self.json = self.paths.parts / name / "backup.json"
        self.script = self.paths.bin / name
        self.key = block_key(str(self.paths.directory), name)
        self.block = render_crontab_block(self.key, *self.entries())
        options.update({
            "config": str(self.json), "location": self.config.location, "script": str(self.script),
            "key": self.key, "buildout-directory": str(self.paths.directory),
            "read-command": self.read, "write-command": self.write,
            "entries": "\n".join(cron_line(e) for e in self.entries()),
        })

    @staticmethod
    def _stop_groups(buildout: Any, reader: OptionReader) -> tuple[str, ...]:
        """The supervisor groups of the parts that use the storage: a restore stops them."""
        groups: list[str] = []
        for part in reader.raw("stop-parts").split():
            if part not in buildout or "programs" not in buildout[part]:
                reader.problem("stop-parts", f"expected names of parts that publish programs ({part!r} does not)", part)
                continue
            try:
                for program in collect(part, buildout[part]):
                    if program.group not in groups:
                        groups.append(program.group)
            except ConfigError as error:
                reader.problems.extend(error.problems)
        return tuple(groups)

    def _check_crontab(self, reader: OptionReader) -> None:
        for option, command in (("read-command", self.read), ("write-command", self.write)):
            if problem := missing_program(command):
                reader.problem(option, problem, command)
        if not any(p.option == "read-command" for p in reader.problems):
            try:  # now, not in install: buildout uninstalls the old block before installing
                read_crontab(self.read)
            except ConfigError as error:
                reader.problems.extend(error.problems)

    def entries(self) -> list[CronEntry]:
        log = str(self.paths.var / "log" / f"{self.name}.log")
        script = shlex.quote(str(self.script))
        commands = {"full": f"{script} --full", "incremental": script, "pack": f"{script} --pack"}
        return [CronEntry(times=self.config.schedules[job], command=commands[job], logfile=log,
                          environment=(("PATH", DEFAULT_PATH),), enabled=self.enabled) for job in SCHEDULES]

    def install(self) -> list[str]:
        paths = created(self.options, self.json.parent)
        ensure_directory(self.json.parent)
        ensure_directory(self.paths.var / "log")
        # the backups themselves are never registered with buildout: removing the part keeps them
        ensure_directory(self.config.location, 0o700)
        write_if_changed(self.json, encode(self.config))
        paths += egg_scripts(self.buildout, list(EGGS), [(self.name, "sitestack.backup.cli", "main")],
                             initialization=f"sys.argv[1:1] = ['--config', {str(self.json)!r}]")
        with user_errors(self.name):
            changed = apply_crontab(self.read, self.write, lambda text: merge(text, self.block, self.key))
        logging.getLogger(self.name).info("crontab block %s %s", self.key, "written" if changed else "unchanged")
        return paths

    update = install

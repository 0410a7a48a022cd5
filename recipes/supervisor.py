"""The supervisor part: supervisord.conf from the parts' programs (or collective.recipe.supervisor
lines), default memmon/httpok listeners, and bin/supervisord, bin/supervisorctl."""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

from sitestack.recipes import digests
from sitestack.recipes.adapter import Paths, egg_scripts, user_errors
from sitestack.recipes.errors import Invalid, Problem
from sitestack.recipes.files import (cannot_create, ensure_directory, private_directory, read_or_create_secret,
                           write_if_changed)
from sitestack.recipes.options import OptionReader
from sitestack.recipes.render import render
from sitestack.recipes.supervisor_build import (claim_address, control_server, default_listeners, site_description,
                                      with_listener_credentials)
from sitestack.recipes.supervisor_lines import parse_group, parse_listener
from sitestack.recipes.supervisor_model import EventListener, Group, SupervisorConfig, check_value
from sitestack.recipes.supervisor_programs import Gathered, agent_of, backup_of, balancer_of, edge_of, gather
from sitestack.recipes.supervisor_settings import (WatchdogOptions, lines, read_control, read_sections, read_supervisord,
                                                   read_watchdog, running_as_root)
from sitestack.recipes.supervisor_validate import validate
from sitestack.recipes.watchdog_rules import WatchdogRules, default_rules

OPTIONS = (
    # collective.recipe.supervisor's names
    "port", "user", "password", "serverurl", "file", "chmod", "chown", "http-socket",
    "logfile", "pidfile", "childlogdir", "logfile-maxbytes", "logfile-backups", "loglevel",
    "umask", "nodaemon", "nocleanup", "supervisord-user", "supervisord-directory",
    "supervisord-environment", "env-path", "programs", "eventlisteners", "groups", "include",
    "plugins", "sections", "supervisord-conf",
    # sitestack's own
    "memmon-email", "listener-events", "httpok-timeout", "watchdog-grace", "eggs", "balancer", "mode",
    "system-conf", "backup", "agent", "edge",
)
LISTENERS = ("watchdog", "memmon", "httpok")  # bin/sitestack-<kind>: sitestack.listeners.watchdog.<kind>
SUPERLANCE_SCRIPTS = ("memmon", "httpok", "crashmail", "crashmailbatch", "fatalmailbatch", "crashsms")


def render_supervisord_conf(part: str, buildout_directory: str, config: SupervisorConfig) -> str:
    """supervisord.conf text for a validated config."""
    return render("supervisord.conf.j2", part=part, buildout_directory=buildout_directory, config=config)


class Recipe:
    """zc.buildout adapter for the supervisor part: reads options, calls the pure builders, writes."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            self._read(buildout, options)
        options["supervisord-conf"] = str(self.conf)
        options["supervisord"] = str(self.paths.bin / f"{name}d")
        options["supervisorctl"] = str(self.paths.bin / f"{name}ctl")
        options["serverurl"] = self.control.serverurl
        options["site-json"] = str(self.site_json)
        options["sitestack"] = str(self.paths.bin / "sitestack")
        if self.config.supervisord:
            options["pidfile"] = self.config.supervisord.pidfile
            options["logfile"] = self.config.supervisord.logfile

    def _read(self, buildout: Any, options: MutableMapping[str, str]) -> None:
        reader = OptionReader(options, OPTIONS)
        self.mode, sections = read_sections(reader)
        self.system_conf = Path(reader.get("system-conf", check_value, "/etc/supervisor/supervisord.conf"))
        default_conf = f"{self.name}.conf" if self.mode == "conf.d" else "supervisord.conf"
        self.conf = Path(reader.get("supervisord-conf", str, str(self.paths.parts / self.name / default_conf)))
        self.site_json = self.paths.parts / self.name / "site.json"
        supervisord = read_supervisord(reader, self.paths.var, running_as_root())
        self.control, self.generate_password = read_control(reader, self.paths.var)
        self.plugins = reader.raw("plugins").split()
        self.eggs = reader.raw("eggs").split()
        watchdog = read_watchdog(reader)
        self.log_dir = Path(options.get("childlogdir", "").strip() or self.paths.var / "log")
        found = gather(buildout, lines(options, "programs"), reader, self.log_dir)
        listeners = _parse_lines(reader, options, "eventlisteners", parse_listener)
        groups = found.all_groups(_parse_lines(reader, options, "groups", parse_group))
        services = "services" in sections
        self.watchdog_rules: WatchdogRules | None = None
        if not lines(options, "eventlisteners") and found.watched():
            listeners = self._default_watchdog(found, groups, watchdog, services)
        self.config = SupervisorConfig(
            supervisord=supervisord if "global" in sections else None,
            control=self.control if "ctl" in sections else None,
            programs=tuple(found.programs) if services else (),
            listeners=tuple(listeners + found.listeners) if services else (),
            groups=tuple(groups) if services else (),
            includes=tuple(lines(options, "include")),
            rpc="rpc" in sections,
            sitestack_rpc="rpc" in sections and self.mode != "conf.d",
        )
        self._check(reader, found)
        self.balancer = balancer_of(buildout, reader)
        self.backup = backup_of(buildout, reader)
        self.agent = agent_of(buildout, reader)
        self.edge = edge_of(buildout, reader)
        reader.done()
        self._warn_unchecked(found)

    def _default_watchdog(self, found: Gathered, groups: list[Group], watchdog: WatchdogOptions,
                          services: bool) -> list[EventListener]:
        """The default watchdog listener; its rules go to site.json (install) when this file runs it
        (only a user's own listener lines carry rules on their command line)."""
        rules = default_rules(found.watched(), groups, watchdog.timeout, watchdog.email, watchdog.grace)
        self.watchdog_rules = rules if services else None
        if "superlance" not in self.plugins:
            self.plugins.append("superlance")
        return default_listeners(rules, self.paths.bin, watchdog.events, self.log_dir)

    def _check(self, reader: OptionReader, found: Gathered) -> None:
        """What supervisord would refuse, port clashes, and directories install cannot write in."""
        reader.problems.extend(validate(self.config))
        if self.control.port:
            claim_address(reader, "port", found.addresses, self.control.port, "supervisord",
                          reader.raw("port").strip())
        self._check_directories(reader)

    def _warn_unchecked(self, found: Gathered) -> None:
        """A balanced program without a health URL: restarts can only wait for haproxy's check."""
        servers = set(self.balancer.servers) if self.balancer else set()
        for program in found.programs:
            if program.name in servers and not program.health_url:
                logging.getLogger(self.name).warning(
                    "%s: haproxy balances to it but it has no health URL; restarts wait for haproxy's own "
                    "check and the watchdog does not watch it (give it health-url=... in its (...))", program.name)

    def _check_directories(self, reader: OptionReader) -> None:
        """Every directory install writes in can be written: a failure there would come after
        buildout has already uninstalled the previous build of this part."""
        wanted = [("supervisord-conf", self.conf.parent)]
        if self.config.supervisord:
            s = self.config.supervisord
            wanted += [("childlogdir", Path(s.childlogdir)), ("logfile", Path(s.logfile).parent),
                       ("pidfile", Path(s.pidfile).parent)]
        if self.config.control and self.config.control.kind == "unix":
            wanted.append(("file", Path(self.config.control.file).parent))
        for option, directory in wanted:
            if problem := cannot_create(directory):
                reader.problem(option, problem, reader.raw(option).strip() or str(directory))

    def install(self) -> list[str]:
        config, password_file = self._with_password(self.config)
        config = with_listener_credentials(config)
        self._make_directories(config)
        write_if_changed(self.conf, render_supervisord_conf(self.name, str(self.paths.directory), config), 0o600)
        paths = [str(self.conf), str(self.site_json)]
        if config.control and config.control.password and not self.generate_password:
            write_if_changed(password_file, config.control.password + "\n", 0o600)
            paths.append(str(password_file))
        # bin/supervisorctl and bin/sitestack talk to the supervisord that reads self.conf
        control_conf = self.system_conf if self.mode == "conf.d" else self.conf
        write_if_changed(self.site_json, site_description(
            self.paths.directory, control_conf, config, self.balancer, self.backup,
            control_server(control_conf, config, str(password_file)), self.agent, self.watchdog_rules,
            self.edge))
        record_digests(self.paths.var / "supervisor" / "digests.json", config, self.paths.directory)
        return paths + self._scripts(control_conf)

    update = install

    def _with_password(self, config: SupervisorConfig) -> tuple[SupervisorConfig, Path]:
        """The config with its control password, and the file that holds it (0600): a generated
        one in var/supervisor/, one given in buildout.cfg beside supervisord.conf."""
        if not config.control or not (self.generate_password or config.control.password):
            return config, self.paths.var / "supervisor" / "control-password"
        if not self.generate_password:
            return config, self.conf.parent / "control-password"
        password_file = self.paths.var / "supervisor" / "control-password"
        control = dataclasses.replace(config.control, password=read_or_create_secret(password_file))
        return dataclasses.replace(config, control=control), password_file

    def _make_directories(self, config: SupervisorConfig) -> None:
        if config.supervisord:
            for directory in (config.supervisord.childlogdir, Path(config.supervisord.logfile).parent):
                # logs show requests and errors: private to supervisord's user (not var/ itself,
                # which the program users pass through)
                private = Path(directory) not in (self.paths.var, self.paths.directory)
                private_directory(directory) if private else ensure_directory(directory)
            ensure_directory(Path(config.supervisord.pidfile).parent)
        if config.control and config.control.kind == "unix":
            ensure_directory(Path(config.control.file).parent)
        if self.mode == "conf.d":  # the programs' logs; the system supervisord keeps its own
            # logs show requests and errors: private to supervisord's user
            private_directory(self.log_dir)
        ensure_directory(self.conf.parent)

    def _scripts(self, control_conf: Path) -> list[str]:
        """bin/supervisord, bin/supervisorctl, bin/sitestack, the watchdog's and superlance's scripts."""
        scripts = [(f"{self.name}ctl", "supervisor.supervisorctl", "main")]
        if self.mode != "conf.d":
            scripts.insert(0, (f"{self.name}d", "sitestack.control.supervisord", "main"))
        paths: list[str] = egg_scripts(self.buildout, ["supervisor", *self.plugins, *self.eggs], scripts,
                                       initialization=f"sys.argv[1:1] = ['-c', {str(control_conf)!r}]")
        site = f"sys.argv[1:1] = ['--site', {str(self.site_json)!r}]"
        # restore opens the FileStorage and runs repozo: ZODB's eggs, when the site has a backup part
        # psutil: sitestack.control.processes answers every process question (status, restarts, reload, check)
        sitestack_eggs = ["supervisor", "psutil", *self.eggs, *(["ZEO"] if self.backup else [])]
        paths += egg_scripts(self.buildout, sitestack_eggs, [("sitestack", "sitestack.control.cli", "main")], initialization=site)
        paths += egg_scripts(self.buildout, ["supervisor", "psutil", *self.eggs],
                             [(f"sitestack-{kind}", "sitestack.listeners.watchdog", kind) for kind in LISTENERS],
                             initialization=site)
        if "superlance" in self.plugins:
            paths += egg_scripts(self.buildout, ["supervisor", *self.plugins],
                                 [(s, f"superlance.{s}", "main") for s in SUPERLANCE_SCRIPTS])
        return paths


T = TypeVar("T")


def _parse_lines(reader: OptionReader, options: MutableMapping[str, str], option: str,
                 parse: Callable[[str], T]) -> list[T]:
    parsed = []
    for number, line in enumerate(lines(options, option), 1):
        try:
            parsed.append(parse(line))
        except Invalid as error:
            reader.problem(option, f"line {number}: {error}", line)
    return parsed


def record_digests(path: Path, config: SupervisorConfig, directory: Path) -> None:
    """var/supervisor/digests.json: when what each program runs from last changed (bin/sitestack reload)."""
    history = digests.record(path, {p.name: p.command for p in config.programs}, directory)
    ensure_directory(path.parent)
    write_if_changed(path, json.dumps(history, indent=1, sort_keys=True) + "\n", 0o600)


__all__ = ["Recipe", "render_supervisord_conf", "site_description", "Problem"]

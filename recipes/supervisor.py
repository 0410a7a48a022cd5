"""The supervisor part: supervisord.conf from the parts' programs (or collective.recipe.supervisor
lines), default memmon/httpok listeners, and bin/supervisord, bin/supervisorctl."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from recipes import convert
from recipes.adapter import Paths, egg_scripts, user_errors
from recipes.errors import ConfigError, Invalid, Problem
from recipes.files import ensure_directory, read_or_create_secret, write_if_changed
from recipes.options import OptionReader
from recipes.publish import PublishedProgram, collect, publishes_programs
from recipes.render import render
from recipes.supervisor_lines import is_program_line, parse_group, parse_listener, parse_program
from recipes.supervisor_model import EventListener, Group, Program, SupervisorConfig, validate
from recipes.supervisor_settings import lines, read_control, read_supervisord, running_as_root

OPTIONS = (
    # collective.recipe.supervisor's names
    "port", "user", "password", "serverurl", "file", "chmod", "chown", "http-socket",
    "logfile", "pidfile", "childlogdir", "logfile-maxbytes", "logfile-backups", "loglevel",
    "umask", "nodaemon", "nocleanup", "supervisord-user", "supervisord-directory",
    "supervisord-environment", "env-path", "programs", "eventlisteners", "groups", "include",
    "plugins", "sections", "supervisord-conf",
    # sitestack's own
    "memmon-email", "listener-events", "httpok-timeout", "eggs", "balancer",
)
SECTIONS = ("global", "ctl", "http", "rpc", "services")
SUPERLANCE_SCRIPTS = ("memmon", "httpok", "crashmail", "crashmailbatch", "fatalmailbatch", "crashsms")


def render_supervisord_conf(part: str, buildout_directory: str, config: SupervisorConfig) -> str:
    """supervisord.conf text for a validated config."""
    return render("supervisord.conf.j2", part=part, buildout_directory=buildout_directory, config=config)


def program_from_part(published: PublishedProgram, log_dir: Path) -> Program:
    """A part's published program as a supervisor program with sitestack's defaults."""
    settings: list[tuple[str, str]] = [
        ("autostart", "true"),
        ("autorestart", "true"),
        ("startsecs", str(published.startsecs)),
        ("startretries", "10"),
        ("stopsignal", published.stopsignal),
        ("stopwaitsecs", str(published.stopwaitsecs)),
        ("stopasgroup", "true"),
        ("killasgroup", "true"),
        ("stdout_logfile", str(log_dir / f"{published.name}.log")),
        ("stdout_logfile_maxbytes", "10MB"),
        ("stdout_logfile_backups", "5"),
    ]
    if published.environment:
        settings.append(("environment", ",".join(f'{k}="{v}"' for k, v in published.environment)))
    return Program(
        name=published.name,
        command=published.command,
        priority=published.priority,
        directory=published.directory,
        redirect_stderr=True,
        user=published.user,
        settings=tuple(settings),
        group=published.group,
        health_url=published.health_url,
        memory_quota=published.memory_quota,
        watchdog=published.watchdog,
        address=published.address,
    )


def automatic_groups(programs: list[Program]) -> list[Group]:
    """One group per published group name; its priority is its first member's."""
    members: dict[str, list[Program]] = {}
    for program in programs:
        if program.group:
            members.setdefault(program.group, []).append(program)
    return [
        Group(name, min(p.priority for p in progs), tuple(p.name for p in sorted(progs, key=lambda p: p.priority)))
        for name, progs in sorted(members.items(), key=lambda item: min(p.priority for p in item[1]))
    ]


def default_listeners(programs: list[Program], groups: list[Group], bin_dir: Path,
                      events: str, timeout: int, email: str) -> list[EventListener]:
    """memmon for memory quotas (one -g per group that shares one quota) and httpok per health URL."""
    quota_args: list[str] = []
    covered: set[str] = set()
    for group in groups:
        quotas = {p.memory_quota for p in programs if p.name in group.programs}
        if len(quotas) == 1 and None not in quotas:
            quota_args += ["-g", f"{group.name}={convert.format_size(quotas.pop())}"]  # type: ignore[arg-type]
            covered.update(group.programs)
    for program in programs:
        if program.memory_quota and program.name not in covered:
            quota_args += ["-p", f"{program.name}={convert.format_size(program.memory_quota)}"]
    listeners: list[EventListener] = []
    if quota_args:
        mail = ["-m", email] if email else []
        listeners.append(EventListener("memmon", events, " ".join([str(bin_dir / "memmon"), *quota_args, *mail])))
    for program in programs:
        if program.health_url and program.watchdog:
            # superlance's httpok matches -p against the bare process name only (not group:name)
            command = f"{bin_dir / 'httpok'} -p {program.name} -t {timeout} {program.health_url}"
            listeners.append(EventListener(f"httpok-{program.name}", events, command))
    return listeners


class Recipe:
    """zc.buildout adapter for the supervisor part."""

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
        sections = reader.get("sections", _sections, list(SECTIONS))
        self.conf = Path(reader.get("supervisord-conf", str, str(self.paths.parts / self.name / "supervisord.conf")))
        self.site_json = self.paths.parts / self.name / "site.json"
        supervisord = read_supervisord(reader, self.paths.var, running_as_root())
        self.control, self.generate_password = read_control(reader, self.paths.var)
        self.plugins = reader.raw("plugins").split()
        self.eggs = reader.raw("eggs").split()
        events = reader.get("listener-events", _events_option, "TICK_60")
        timeout = reader.get("httpok-timeout", lambda t: convert.integer(t, 1, 3600), 20)
        email = reader.get("memmon-email", convert.email, "")
        programs, from_parts = self._programs(buildout, options, reader)
        listeners = self._parse_lines(reader, options, "eventlisteners", parse_listener)
        groups = self._parse_lines(reader, options, "groups", parse_group)
        explicit = {g.name for g in groups}
        groups += [g for g in automatic_groups(from_parts) if g.name not in explicit]
        if not lines(options, "eventlisteners") and from_parts:
            listeners = default_listeners(from_parts, groups, self.paths.bin, events, timeout, email)
            if "superlance" not in self.plugins:
                self.plugins.append("superlance")
        self.config = SupervisorConfig(
            supervisord=supervisord if "global" in sections else None,
            control=self.control if "ctl" in sections else None,
            programs=tuple(programs) if "services" in sections else (),
            listeners=tuple(listeners) if "services" in sections else (),
            groups=tuple(groups) if "services" in sections else (),
            includes=tuple(lines(options, "include")),
            rpc="rpc" in sections,
        )
        reader.problems.extend(validate(self.config))
        self.balancer = self._balancer(buildout, reader)
        reader.done()

    @staticmethod
    def _balancer(buildout: Any, reader: OptionReader) -> dict[str, Any] | None:
        """haproxy's runtime socket and backend, for commands that take a client out of rotation."""
        part = reader.raw("balancer").strip()
        if not part:
            return None
        if part not in buildout or "stats-socket" not in buildout[part]:
            reader.problem("balancer", "expected the name of a haproxy part (one that publishes stats-socket)", part)
            return None
        section = buildout[part]
        servers = [entry.partition("=")[0] for entry in section.get("servers", "").split()]
        return {"part": part, "socket": section["stats-socket"], "backend": section.get("backend", "clients"),
                "servers": servers}

    def _programs(self, buildout: Any, options: MutableMapping[str, str],
                  reader: OptionReader) -> tuple[list[Program], list[Program]]:
        """Programs from `programs`: priority lines, or names of parts that publish programs."""
        programs: list[Program] = []
        from_parts: list[Program] = []
        log_dir = Path(options.get("childlogdir", "").strip() or self.paths.var / "log")
        addresses: dict[str, str] = {}
        for number, line in enumerate(lines(options, "programs"), 1):
            if is_program_line(line):
                try:
                    programs.append(parse_program(line))
                except Invalid as error:
                    reader.problem("programs", f"line {number}: {error}", line)
                continue
            for part in line.split():
                if part not in buildout:
                    reader.problem("programs", f"line {number}: {part!r} is neither a part nor a "
                                   "'priority name command' line", line)
                    continue
                section = buildout[part]
                if not publishes_programs(section):
                    reader.problem("programs", f"line {number}: part {part!r} publishes no programs", line)
                    continue
                try:
                    published = collect(part, section)
                except ConfigError as error:
                    reader.problems.extend(error.problems)
                    continue
                for item in published:
                    if item.address and item.address in addresses:
                        reader.problem("programs", f"{item.name!r} and {addresses[item.address]!r} both "
                                       f"listen on {item.address}", item.address)
                    addresses.setdefault(item.address, item.name)
                    program = program_from_part(item, log_dir)
                    programs.append(program)
                    from_parts.append(program)
        return programs, from_parts

    @staticmethod
    def _parse_lines(reader: OptionReader, options: MutableMapping[str, str], option: str, parse: Any) -> list[Any]:
        parsed = []
        for number, line in enumerate(lines(options, option), 1):
            try:
                parsed.append(parse(line))
            except Invalid as error:
                reader.problem(option, f"line {number}: {error}", line)
        return parsed

    def install(self) -> list[str]:
        config = self.config
        if self.generate_password and config.control:
            password = read_or_create_secret(self.paths.var / "supervisor" / "control-password")
            control = dataclasses.replace(config.control, password=password)
            config = dataclasses.replace(config, control=control)
        config = _with_listener_credentials(config)
        text = render_supervisord_conf(self.name, str(self.paths.directory), config)
        if config.supervisord:
            for directory in (config.supervisord.childlogdir, Path(config.supervisord.logfile).parent,
                              Path(config.supervisord.pidfile).parent):
                ensure_directory(directory)
        if config.control and config.control.kind == "unix":
            ensure_directory(Path(config.control.file).parent)
        ensure_directory(self.conf.parent)
        write_if_changed(self.conf, text, 0o600)
        write_if_changed(self.site_json, site_description(self.paths.directory, self.conf, config, self.balancer))
        initialization = f"sys.argv[1:1] = ['-c', {str(self.conf)!r}]"
        paths = [str(self.conf), str(self.site_json)]
        paths += egg_scripts(self.buildout, ["supervisor", *self.plugins, *self.eggs],
                             [(f"{self.name}d", "supervisor.supervisord", "main"),
                              (f"{self.name}ctl", "supervisor.supervisorctl", "main")],
                             initialization=initialization)
        paths += egg_scripts(self.buildout, ["supervisor", *self.eggs], [("sitestack", "control.cli", "main")],
                             initialization=f"sys.argv[1:1] = ['--site', {str(self.site_json)!r}]")
        if "superlance" in self.plugins:
            paths += egg_scripts(self.buildout, ["supervisor", *self.plugins],
                                 [(s, f"superlance.{s}", "main") for s in SUPERLANCE_SCRIPTS])
        return paths

    update = install


def site_description(directory: Path, conf: Path, config: SupervisorConfig,
                     balancer: dict[str, Any] | None) -> str:
    """site.json: what bin/sitestack's commands need to know about the site (no secrets)."""
    group_of = {member: g.name for g in config.groups for member in g.programs}
    programs = [
        {"name": p.name, "group": group_of.get(p.name, ""), "priority": p.priority, "health_url": p.health_url,
         "address": p.address, "watchdog": p.watchdog, "memory_quota": p.memory_quota}
        for p in config.programs
    ]
    data = {"directory": str(directory), "supervisord_conf": str(conf), "programs": programs, "balancer": balancer}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _with_listener_credentials(config: SupervisorConfig) -> SupervisorConfig:
    """Listeners reach supervisord's XML-RPC with the control credentials, as in c.r.s."""
    control = config.control
    if not control or not control.username:
        return config
    env = (f"SUPERVISOR_USERNAME='{control.username}',SUPERVISOR_PASSWORD='{control.password}',"
           f"SUPERVISOR_SERVER_URL='{control.serverurl}'")
    listeners = []
    for listener in config.listeners:
        settings = dict(listener.settings)
        settings["environment"] = ",".join(filter(None, [settings.get("environment", ""), env]))
        listeners.append(dataclasses.replace(listener, settings=tuple(settings.items())))
    return dataclasses.replace(config, listeners=tuple(listeners))


def _sections(text: str) -> list[str]:
    names = text.split()
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise Invalid(f"unknown section {unknown[0]!r}; expected some of " + " ".join(SECTIONS))
    return names


def _events_option(text: str) -> str:
    from recipes.supervisor_model import _events

    return _events(text)


__all__ = ["Recipe", "render_supervisord_conf", "Problem"]

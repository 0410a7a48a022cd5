"""The supervisor part: supervisord.conf from the parts' programs (or collective.recipe.supervisor
lines), default memmon/httpok listeners, and bin/supervisord, bin/supervisorctl."""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from recipes import convert, digests
from recipes.adapter import Paths, egg_scripts, user_errors
from recipes.errors import ConfigError, Invalid, Problem
from recipes.files import (cannot_create, ensure_directory, private_directory, read_or_create_secret,
                           write_if_changed)
from recipes.options import OptionReader
from recipes.publish import PublishedProgram, collect, publishes_programs
from recipes.program_model import process_names
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
    "memmon-email", "listener-events", "httpok-timeout", "watchdog-grace", "eggs", "balancer", "mode",
    "system-conf", "backup", "agent",
)
SECTIONS = ("global", "ctl", "http", "rpc", "services")
LISTENERS = ("watchdog", "memmon", "httpok")  # bin/sitestack-<kind>: listeners.watchdog.<kind>
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
    merged, structural = _merge_settings(settings, published, log_dir)
    return Program(
        name=published.name,
        command=published.command,
        priority=int(structural.get("priority", published.priority)),
        directory=structural.get("directory", published.directory),
        redirect_stderr=structural.get("redirect_stderr", "true") == "true",
        user=structural.get("user", published.user),
        settings=merged,
        group=published.group,
        health_url=published.health_url,
        memory_quota=published.memory_quota,
        watchdog=published.watchdog,
        address=published.address,
        start_timeout=published.start_timeout,
    )


STRUCTURAL = ("priority", "directory", "user", "redirect_stderr")


def _merge_settings(defaults: list[tuple[str, str]], published: PublishedProgram,
                    log_dir: Path) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """sitestack's defaults overridden by the part's own supervisor settings; the options the
    Program holds as fields (priority, directory, user, redirect_stderr) come back apart."""
    merged = dict(defaults)
    if int(dict(published.settings).get("numprocs", "1")) > 1:
        # one log per process of a pool: two processes appending to one file would mix up rotation
        merged["stdout_logfile"] = str(log_dir / f"{published.name}_%(process_num)02d.log")
    structural = {k: v for k, v in published.settings if k in STRUCTURAL}
    merged.update((k, v) for k, v in published.settings if k not in STRUCTURAL)
    return tuple(merged.items()), structural


def listener_from_part(published: PublishedProgram, log_dir: Path) -> EventListener:
    """A part's published event listener, with sitestack's defaults for its log."""
    settings = [("autostart", "true"), ("autorestart", "true"),
                ("stderr_logfile", str(log_dir / f"{published.name}.log")),
                ("stderr_logfile_maxbytes", "10MB"), ("stderr_logfile_backups", "5")]
    if published.directory:
        settings.append(("directory", published.directory))
    if published.user:
        settings.append(("user", published.user))
    if published.priority != 999:
        settings.append(("priority", str(published.priority)))
    merged = dict(settings)
    merged.update(published.settings)
    return EventListener(published.name, published.events, published.command, tuple(merged.items()))


WILDCARDS = ("0.0.0.0", "::", "")


def claim_address(reader: OptionReader, option: str, taken: dict[str, str], address: str, owner: str,
                  value: str) -> None:
    """Record that owner listens on address; a port someone already holds there is a problem."""
    host, _, port = address.rpartition(":")
    for other, holder in taken.items():
        other_host, _, other_port = other.rpartition(":")
        if port == other_port and (host.strip("[]") == other_host.strip("[]")
                                   or {host.strip("[]"), other_host.strip("[]")} & set(WILDCARDS)):
            where = address if host == other_host else f"{address} and {other}"
            reader.problem(option, f"{owner!r} and {holder!r} both listen on {where}", value)
            return
    taken[address] = owner


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
                      events: str, timeout: int, email: str, log_dir: Path | None = None,
                      grace: int | None = None) -> list[EventListener]:
    """The watchdog: memmon for memory quotas (one -g per group that shares one quota), httpok per health URL."""
    quota_args: list[str] = []
    covered: set[str] = set()
    for group in groups:
        quotas = {p.memory_quota for p in programs if p.name in group.programs}
        if len(quotas) == 1 and None not in quotas:
            quota_args += ["-g", f"{group.name}={convert.format_size(quotas.pop())}"]  # type: ignore[arg-type]
            covered.update(group.programs)
    for program in programs:
        if program.memory_quota and program.name not in covered:
            size = convert.format_size(program.memory_quota)
            if int(program.setting("numprocs", "1")) > 1:
                # a pool's processes are worker_00, worker_01, ...: name each as group:process
                group = next((g.name for g in groups if program.name in g.programs), program.name)
                quota_args += [a for p in _process_names(program, group) for a in ("-p", f"{group}:{p}={size}")]
            else:
                quota_args += ["-p", f"{program.name}={size}"]
    # One sitestack-watchdog process does superlance's memmon and every httpok (listeners/), and
    # restarts through control.restart: drained in haproxy first, so no request is lost.
    mail = ["-m", email] if email else []
    segments = [" ".join(["::", "memmon", *quota_args, *mail])] if quota_args else []
    for program in programs:
        if program.health_url and program.watchdog:
            segments.append(" ".join(["::", "httpok", "-p", program.name, "-t", str(timeout), *mail,
                                      program.health_url]))
    if not segments:
        return []
    settings = (("stderr_logfile", str(log_dir / "watchdog.log")),) if log_dir else ()
    policy = ["--grace", str(grace)] if grace is not None else []
    return [EventListener("watchdog", events, " ".join([str(bin_dir / "sitestack-watchdog"), *policy, *segments]),
                          settings)]


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
        # conf.d: a fragment for an existing supervisord (programs, groups, listeners), no bin/supervisord
        self.mode = reader.get("mode", _mode, "supervisord")
        if self.mode == "conf.d":
            sections = _confd_sections(reader)
        self.system_conf = Path(reader.get("system-conf", _text, "/etc/supervisor/supervisord.conf"))
        default_conf = f"{self.name}.conf" if self.mode == "conf.d" else "supervisord.conf"
        self.conf = Path(reader.get("supervisord-conf", str, str(self.paths.parts / self.name / default_conf)))
        self.site_json = self.paths.parts / self.name / "site.json"
        supervisord = read_supervisord(reader, self.paths.var, running_as_root())
        self.control, self.generate_password = read_control(reader, self.paths.var)
        self.plugins = reader.raw("plugins").split()
        self.eggs = reader.raw("eggs").split()
        # TICK_5 and a short timeout: a hung client is confirmed and restarted within seconds
        events = reader.get("listener-events", _events_option, "TICK_5")
        timeout = reader.get("httpok-timeout", lambda t: convert.integer(t, 1, 3600), 2)
        email = reader.get("memmon-email", convert.email, "")
        # seconds after a start before the watchdog judges a program that has not answered yet
        # (a part's start-timeout wins for its programs)
        grace = reader.get("watchdog-grace", lambda t: convert.integer(t, 0, 86400), None)
        programs, from_parts = self._programs(buildout, options, reader)
        listeners = self._parse_lines(reader, options, "eventlisteners", parse_listener)
        groups = self._parse_lines(reader, options, "groups", parse_group) + self.part_groups
        explicit = {g.name for g in groups}
        # a program a group part names is in that group only
        chosen = {member for g in self.part_groups for member in g.programs}
        groups += [g for g in automatic_groups([p for p in from_parts if p.name not in chosen])
                   if g.name not in explicit]
        # priority lines with a health URL or a memory quota are watched like a part's programs
        watched = from_parts + [p for p in programs if p not in from_parts and (p.health_url or p.memory_quota)]
        if not lines(options, "eventlisteners") and watched:
            log_dir = Path(options.get("childlogdir", "").strip() or self.paths.var / "log")
            listeners = default_listeners(watched, groups, self.paths.bin, events, timeout, email, log_dir,
                                          grace)
            if "superlance" not in self.plugins:
                self.plugins.append("superlance")
        listeners += self.part_listeners
        self.config = SupervisorConfig(
            supervisord=supervisord if "global" in sections else None,
            control=self.control if "ctl" in sections else None,
            programs=tuple(programs) if "services" in sections else (),
            listeners=tuple(listeners) if "services" in sections else (),
            groups=tuple(groups) if "services" in sections else (),
            includes=tuple(lines(options, "include")),
            rpc="rpc" in sections,
            sitestack_rpc="rpc" in sections and self.mode != "conf.d",
        )
        reader.problems.extend(validate(self.config))
        if self.control.kind == "inet":
            claim_address(reader, "port", self.addresses, self.control.port, "supervisord",
                          reader.raw("port").strip())
        self._check_directories(reader)
        self.balancer = self._balancer(buildout, reader)
        self.backup = self._backup(buildout, reader)
        self.agent = _agent(buildout, reader)
        reader.done()
        self._warn_unchecked(programs)

    def _warn_unchecked(self, programs: list[Program]) -> None:
        """A balanced program without a health URL: restarts can only wait for haproxy's check."""
        servers = set(self.balancer["servers"]) if self.balancer else set()
        for program in programs:
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

    @staticmethod
    def _backup(buildout: Any, reader: OptionReader) -> str:
        """The backup part's settings file, for bin/sitestack restore, status and check."""
        part = reader.raw("backup").strip()
        if part and (part not in buildout or "config" not in buildout[part]):
            reader.problem("backup", "expected the name of a backup part (one that publishes config)", part)
            return ""
        return buildout[part]["config"] if part else ""

    def _programs(self, buildout: Any, options: MutableMapping[str, str],
                  reader: OptionReader) -> tuple[list[Program], list[Program]]:
        """Programs from `programs`: priority lines, or names of parts that publish programs."""
        programs: list[Program] = []
        from_parts: list[Program] = []
        self.part_listeners: list[EventListener] = []
        self.part_groups: list[Group] = []
        log_dir = Path(options.get("childlogdir", "").strip() or self.paths.var / "log")
        addresses: dict[str, str] = {}
        self.addresses = addresses
        for number, line in enumerate(lines(options, "programs"), 1):
            if is_program_line(line):
                try:
                    program = parse_program(line)
                    programs.append(program)
                    if program.address:
                        claim_address(reader, "programs", addresses, program.address, program.name, line)
                except Invalid as error:
                    reader.problem("programs", f"line {number}: {error}", line)
                continue
            for part in line.split():
                if part not in buildout:
                    reader.problem("programs", f"line {number}: {part!r} is neither a part nor a "
                                   "'priority name command' line", line)
                    continue
                section = buildout[part]
                if "group-programs" in section:
                    self._group_part(part, section, reader)
                    continue
                if not publishes_programs(section):
                    reader.problem("programs", f"line {number}: part {part!r} publishes no programs", line)
                    continue
                try:
                    published = collect(part, section)
                except ConfigError as error:
                    reader.problems.extend(error.problems)
                    continue
                for item in published:
                    for address in filter(None, (item.address, *item.other_addresses)):
                        claim_address(reader, "programs", addresses, address, item.name, address)
                    if item.kind == "eventlistener":  # such as the exporter, which listens on a port too
                        self.part_listeners.append(listener_from_part(item, log_dir))
                        continue
                    program = program_from_part(item, log_dir)
                    programs.append(program)
                    from_parts.append(program)
        return programs, from_parts

    def _group_part(self, part: str, section: Any, reader: OptionReader) -> None:
        """A sitestack:group part: [group:x] with the programs it names."""
        try:
            self.part_groups.append(Group(section.get("group-name", part),
                                          convert.priority(section.get("group-priority", "999")),
                                          tuple(section["group-programs"].split())))
        except Invalid as error:
            reader.problem("programs", f"part {part!r} published a bad group: {error}", part)

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
            private_directory(Path(self.options.get("childlogdir", "").strip() or self.paths.var / "log"))
        ensure_directory(self.conf.parent)
        write_if_changed(self.conf, text, 0o600)
        # bin/supervisorctl and bin/sitestack talk to the supervisord that reads self.conf
        control_conf = self.system_conf if self.mode == "conf.d" else self.conf
        write_if_changed(self.site_json, site_description(self.paths.directory, control_conf, config, self.balancer,
                                                        self.backup, self.agent))
        record_digests(self.paths.var / "supervisor" / "digests.json", config, self.paths.directory)
        initialization = f"sys.argv[1:1] = ['-c', {str(control_conf)!r}]"
        paths = [str(self.conf), str(self.site_json)]
        scripts = [(f"{self.name}ctl", "supervisor.supervisorctl", "main")]
        if self.mode != "conf.d":
            scripts.insert(0, (f"{self.name}d", "control.supervisord", "main"))
        paths += egg_scripts(self.buildout, ["supervisor", *self.plugins, *self.eggs], scripts,
                             initialization=initialization)
        # restore opens the FileStorage and runs repozo: ZODB's eggs, when the site has a backup part
        # psutil: control.processes answers every process question (status, restarts, reload, check)
        sitestack_eggs = ["supervisor", "psutil", *self.eggs, *(["ZEO"] if self.backup else [])]
        paths += egg_scripts(self.buildout, sitestack_eggs, [("sitestack", "control.cli", "main")],
                             initialization=f"sys.argv[1:1] = ['--site', {str(self.site_json)!r}]")
        paths += egg_scripts(self.buildout, ["supervisor", "psutil", *self.eggs],
                             [(f"sitestack-{kind}", "listeners.watchdog", kind) for kind in LISTENERS],
                             initialization=f"sys.argv[1:1] = ['--site', {str(self.site_json)!r}]")
        if "superlance" in self.plugins:
            paths += egg_scripts(self.buildout, ["supervisor", *self.plugins],
                                 [(s, f"superlance.{s}", "main") for s in SUPERLANCE_SCRIPTS])
        return paths

    update = install


def site_description(directory: Path, conf: Path, config: SupervisorConfig,
                     balancer: dict[str, Any] | None, backup: str = "", agent: dict[str, Any] | None = None) -> str:
    """site.json: what bin/sitestack's commands need to know about the site (no secrets)."""
    group_of = {member: g.name for g in config.groups for member in g.programs}
    # one entry per process as supervisor names it: a pool's worker_00, worker_01, ...; a program in
    # no group is in supervisor's own group named after it
    programs = [
        {"name": process, "group": group_of.get(p.name, p.name), "priority": p.priority,
         "health_url": p.health_url, "address": p.address, "watchdog": p.watchdog, "memory_quota": p.memory_quota,
         "start_timeout": p.start_timeout}
        for p in config.programs
        for process in _process_names(p, group_of.get(p.name, ""))
    ]
    data: dict[str, Any] = {"directory": str(directory), "supervisord_conf": str(conf), "programs": programs,
                            "balancer": balancer}
    if backup:
        data["extra"] = {"backup": backup}
    if agent:  # haproxy's agent-check on this host: the restart routine drains through it (control.agent)
        data.setdefault("extra", {})["agent"] = agent
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _agent(buildout: Any, reader: OptionReader) -> dict[str, Any] | None:
    """The agent part's description (its address, state file, clients), for the restart routine."""
    part = reader.raw("agent").strip()
    if not part:
        return None
    if part not in buildout or "description" not in buildout[part]:
        reader.problem("agent", "expected the name of an agent part (recipe sitestack:agent)", part)
        return None
    return dict(json.loads(buildout[part]["description"]))


def _process_names(program: Program, group: str) -> list[str]:
    try:
        return process_names(program.name, dict(program.settings), group)
    except Invalid:  # supervisor itself refuses such a process_name at start, and says why
        return [program.name]


def record_digests(path: Path, config: SupervisorConfig, directory: Path) -> None:
    """var/supervisor/digests.json: when what each program runs from last changed (bin/sitestack reload)."""
    history = digests.record(path, {p.name: p.command for p in config.programs}, directory)
    ensure_directory(path.parent)
    write_if_changed(path, json.dumps(history, indent=1, sort_keys=True) + "\n", 0o600)


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


def _mode(text: str) -> str:
    value = text.strip()
    if value not in ("supervisord", "conf.d"):
        raise Invalid("expected supervisord (bin/supervisord runs the site) or conf.d (a file for an "
                      "existing supervisord's include directory)")
    return value


def _confd_sections(reader: OptionReader) -> list[str]:
    """conf.d mode writes the services only: an included file must not hold [supervisord] and friends."""
    for option in ("sections", "include"):
        if reader.has(option):
            reader.problem(option, "mode = conf.d writes programs, groups and listeners only; leave it out",
                           reader.raw(option).strip())
    return ["services"]


def _text(text: str) -> str:
    from recipes.supervisor_model import check_value

    return check_value(text)


def _events_option(text: str) -> str:
    from recipes.supervisor_model import _events

    return _events(text)


__all__ = ["Recipe", "render_supervisord_conf", "Problem"]

"""The supervisor part's pure builders: published programs -> supervisord.conf's model, the
default watchdog, the port-clash check, and site.json. No zc.buildout, no filesystem."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sitestack.recipes.address import Address
from sitestack.recipes.description import Balancer, ControlServer, Edge, Site, SiteProgram, WatchdogRules
from sitestack.recipes.errors import Invalid
from sitestack.recipes.options import OptionReader
from sitestack.recipes.program_model import process_names
from sitestack.recipes.publish import PublishedProgram
from sitestack.recipes.supervisor_model import EventListener, Group, Program, SupervisorConfig, split_structural


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
        consumer=published.consumer,
    )


def _merge_settings(defaults: list[tuple[str, str]], published: PublishedProgram,
                    log_dir: Path) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """sitestack's defaults overridden by the part's own supervisor settings; the options the
    Program holds as fields (priority, directory, user, redirect_stderr) come back apart."""
    merged = dict(defaults)
    if published.numprocs > 1:
        # one log per process of a pool: two processes appending to one file would mix up rotation
        merged["stdout_logfile"] = str(log_dir / f"{published.name}_%(process_num)02d.log")
    structural, rest = split_structural(published.settings)
    merged.update(rest)
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


def claim_address(reader: OptionReader, option: str, taken: dict[Address, str], address: Address, owner: str,
                  value: str) -> None:
    """Record that owner listens on address; a port someone already holds there is a problem."""
    for other, holder in taken.items():
        if address.clashes_with(other):
            where = address if address.host == other.host else f"{address} and {other}"
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


def default_listeners(rules: WatchdogRules | None, bin_dir: Path, events: str,
                      log_dir: Path | None = None) -> list[EventListener]:
    """The watchdog: one sitestack-watchdog process does superlance's memmon and every httpok
    (listeners/), and restarts through sitestack.control.restart: drained in haproxy first, so no request is lost.
    Its rules are not on its command line: it reads them from site.json (site_description's watchdog)."""
    if not rules:
        return []
    settings = (("stderr_logfile", str(log_dir / "watchdog.log")),) if log_dir else ()
    return [EventListener("watchdog", events, str(bin_dir / "sitestack-watchdog"), settings)]


def site_description(directory: Path, conf: Path, config: SupervisorConfig, balancer: Balancer | None,
                     backup: str = "", control: ControlServer | None = None,
                     agent: dict[str, Any] | None = None, watchdog: WatchdogRules | None = None,
                     edge: Edge | None = None) -> str:
    """site.json: what bin/sitestack's commands and the watchdog need to know about the site (no secrets)."""
    group_of = {member: g.name for g in config.groups for member in g.programs}
    # one entry per process as supervisor names it: a pool's worker_00, worker_01, ...; a program in
    # no group is in supervisor's own group named after it
    programs = tuple(
        SiteProgram(name=process, group=group_of.get(p.name, p.name), priority=p.priority, health_url=p.health_url,
                    address=p.address, watchdog=p.watchdog, memory_quota=p.memory_quota,
                    start_timeout=p.start_timeout, program=p.name, command=p.command, user=p.user,
                    consumer=p.consumer)
        for p in config.programs
        for process in _process_names(p, group_of.get(p.name, ""))
    )
    extra: dict[str, Any] = {"backup": backup} if backup else {}
    if agent:  # haproxy's agent-check on this host: the restart routine drains through it (sitestack.control.agent_drain)
        extra["agent"] = agent
    site = Site(directory, conf, programs, balancer, extra, control, watchdog=watchdog or None, edge=edge)
    return site.dumps()


def control_server(conf: Path, config: SupervisorConfig, password_file: str) -> ControlServer:
    """How commands reach the supervisord of conf (the system's in conf.d mode: config.control is None)."""
    control, supervisord = config.control, config.supervisord
    if control is None:
        return ControlServer(str(conf))
    return ControlServer(
        conf=str(conf), serverurl=control.serverurl, username=control.username,
        password_file=password_file if control.password else "",
        socket=control.file if control.kind == "unix" else "",
        socket_mode=control.chmod if control.kind == "unix" else "",
        port=control.port if control.kind == "inet" else None,
        pidfile=supervisord.pidfile if supervisord else "",
        supervisord_user=supervisord.user if supervisord else "",
    )


def _process_names(program: Program, group: str) -> list[str]:
    try:
        return process_names(program.name, dict(program.settings), group)
    except Invalid:  # supervisor itself refuses such a process_name at start, and says why
        return [program.name]


def with_listener_credentials(config: SupervisorConfig) -> SupervisorConfig:
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

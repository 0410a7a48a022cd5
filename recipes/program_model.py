"""A generic supervised program, event listener or group as data: read from a part's options,
checked, and published for the supervisor part. Pure: no zc.buildout, no filesystem."""
from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram
from sitestack.recipes.supervisor_model import (LISTENER_OPTIONS, PROGRAM_OPTIONS, _events, check_value, escape_percent,
                                      pool_names_apart, split_structural)

# sitestack's own options (dashes, like every sitestack part); supervisor's options keep supervisor's
# spelling (underscores), so a line copied from supervisor's docs or a framework's guide works as is.
OWN_OPTIONS = ("command", "group", "memory-quota", "health-url", "watchdog", "address")
LISTENER_OWN_OPTIONS = ("command", "events", "memory-quota")
GROUP_OPTIONS = ("programs", "priority", "name")
# a sanity bound: a typo such as numprocs = 1200 instead of 12 would start a process storm
NUMPROCS_MAX = 1024


def _command(text: str) -> str:
    value = check_value(text)
    if not value:
        raise Invalid("expected a command line")
    return value


def process_names(name: str, settings: Mapping[str, str], group: str = "") -> list[str]:
    """The names supervisor gives the processes of a program: process_name expanded per process_num."""
    numprocs = int(settings.get("numprocs", "1"))
    start = int(settings.get("numprocs_start", "0"))
    template = settings.get("process_name", "%(program_name)s")
    names = []
    for number in range(start, start + numprocs):
        expansions: dict[str, object] = {
            "program_name": name, "process_num": number, "group_name": group or name,
            "host_node_name": socket.gethostname(), "here": "", "numprocs": numprocs,
        }
        expansions.update({f"ENV_{k}": v for k, v in os.environ.items()})
        try:
            names.append(template % expansions)
        except (KeyError, ValueError, TypeError):
            raise Invalid(f"cannot expand process_name {template!r}") from None
    return names


def described(name: str, command: str, settings: Mapping[str, str], group: str = "",
              memory_quota: int | None = None, health_url: str = "", watchdog: bool = False,
              address: Address | None = None) -> PublishedProgram:
    """A program from supervisor settings: the ones the description holds as fields (priority,
    directory, user, stopsignal, stopwaitsecs, startsecs) read from them, the rest kept as settings."""
    rest = split_structural(tuple(settings.items()), ("priority", "directory", "user"))[1]
    return PublishedProgram(
        name=name, command=command, directory=settings.get("directory", ""),
        priority=int(settings.get("priority", "999")), user=settings.get("user", ""),
        stopsignal=settings.get("stopsignal", "TERM"), stopwaitsecs=int(settings.get("stopwaitsecs", "10")),
        startsecs=int(settings.get("startsecs", "1")), settings=rest, group=group, memory_quota=memory_quota,
        health_url=health_url, watchdog=watchdog, address=address,
    )


def supervisor_settings(reader: OptionReader, known: Mapping[str, object], skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every supervisor option the part sets, converted; problems go to reader."""
    settings: list[tuple[str, str]] = []
    for key in known:
        if key in skip or not reader.has(key):
            continue
        value = reader.get(key, known[key], None)  # type: ignore[arg-type]
        if value is not None:
            settings.append((key, value))
    return settings


def check_pool(reader: OptionReader, settings: dict[str, str]) -> None:
    """numprocs > 1 needs %(process_num) in process_name, and every process name must expand."""
    numprocs = int(settings.get("numprocs", "1"))
    if numprocs > NUMPROCS_MAX:
        reader.problem("numprocs", f"expected at most {NUMPROCS_MAX} processes", str(numprocs))
    elif not pool_names_apart(numprocs, settings.get("process_name", "")):
        reader.problem("process_name", "numprocs > 1 needs %(process_num)s (or %(process_num)02d) in "
                       "process_name, so each process has its own name",
                       reader.raw("process_name").strip() or None)


def read_program(name: str, reader: OptionReader, default_command: str | None = None,
                 defaults: Mapping[str, str] | None = None) -> PublishedProgram:
    """A program from a part's options (every problem is collected in reader)."""
    command = reader.get("command", _command, default_command) if default_command else reader.require("command", _command)
    settings = dict(defaults or {})
    settings.update(supervisor_settings(reader, PROGRAM_OPTIONS))
    check_pool(reader, settings)
    if "process_name" in settings:
        try:
            process_names(name, settings)
        except Invalid as error:
            reader.problem("process_name", str(error), settings["process_name"])
    group = reader.get("group", convert.name, "")
    return described(
        name, command or "", settings,
        # supervisor puts a program in no group into a group of its own name already
        group="" if group == name else group,
        memory_quota=reader.get("memory-quota", convert.byte_size, None),
        health_url=reader.get("health-url", check_value, ""),
        watchdog=reader.get("watchdog", convert.boolean, False),
        address=reader.get("address", convert.address, None),
    )


def read_listener(name: str, reader: OptionReader) -> PublishedProgram:
    """An event listener from a part's options."""
    command = reader.require("command", _command)
    events = reader.require("events", _events)
    settings = supervisor_settings(reader, LISTENER_OPTIONS)
    check_pool(reader, dict(settings))
    fields = dict(settings)
    return PublishedProgram(
        name=name, command=command or "", directory="", priority=int(fields.get("priority", "999")),
        group="", settings=tuple(settings), kind="eventlistener", events=events or "",
        memory_quota=reader.get("memory-quota", convert.byte_size, None),
    )


@dataclass(frozen=True)
class GroupPart:
    """A [group:x] section from a sitestack:group part."""

    name: str
    programs: tuple[str, ...]
    priority: int


def _members(text: str) -> tuple[str, ...]:
    names = tuple(convert.name(n) for n in text.replace(",", " ").split())
    if not names:
        raise Invalid("expected the names of the programs in the group")
    if len(set(names)) != len(names):
        raise Invalid("a program is named twice")
    return names


def read_group(name: str, reader: OptionReader) -> GroupPart:
    """A group from a part's options."""
    return GroupPart(
        name=reader.get("name", convert.name, name),
        programs=reader.require("programs", _members) or (),
        priority=reader.get("priority", convert.priority, 999),
    )


__all__ = ["described", "GroupPart", "read_program", "read_listener", "read_group", "process_names",
           "escape_percent", "OWN_OPTIONS"]

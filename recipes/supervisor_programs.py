"""What the supervisor part gathers from the buildout: programs from `programs` lines (priority
lines, or names of parts that publish programs), groups, the balancer and the backup part.
Pure: the buildout is read as a mapping of sections; every problem goes to the option reader."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.description import Balancer, Edge
from sitestack.recipes.errors import ConfigError, Invalid
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import collect, publishes_programs
from sitestack.recipes.supervisor_build import automatic_groups, claim_address, listener_from_part, program_from_part
from sitestack.recipes.supervisor_lines import is_program_line, parse_program
from sitestack.recipes.supervisor_model import EventListener, Group, Program

Buildout = Mapping[str, Mapping[str, str]]


@dataclass
class Gathered:
    """Programs in the order the lines name them; those parts published; listeners and groups parts
    published; every address claimed so far (host:port -> owner)."""

    programs: list[Program] = field(default_factory=list)
    from_parts: list[Program] = field(default_factory=list)
    listeners: list[EventListener] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    addresses: dict[Address, str] = field(default_factory=dict)

    def watched(self) -> list[Program]:
        """A part's programs, and priority lines with a health URL or a memory quota."""
        return self.from_parts + [p for p in self.programs
                                  if p not in self.from_parts and (p.health_url or p.memory_quota)]

    def all_groups(self, line_groups: list[Group]) -> list[Group]:
        """groups lines and group parts, then one automatic group per published group name."""
        groups = line_groups + self.groups
        explicit = {g.name for g in groups}
        # a program a group part names is in that group only
        chosen = {member for g in self.groups for member in g.programs}
        return groups + [g for g in automatic_groups([p for p in self.from_parts if p.name not in chosen])
                         if g.name not in explicit]


def gather(buildout: Buildout, program_lines: list[str], reader: OptionReader, log_dir: Path) -> Gathered:
    """Every program the `programs` lines name."""
    found = Gathered()
    for number, line in enumerate(program_lines, 1):
        if is_program_line(line):
            _priority_line(found, reader, number, line)
            continue
        for part in line.split():
            if part not in buildout:
                reader.problem("programs", f"line {number}: {part!r} is neither a part nor a "
                               "'priority name command' line", line)
            elif "group-programs" in buildout[part]:
                _group_part(found, part, buildout[part], reader)
            elif not publishes_programs(buildout[part]):
                reader.problem("programs", f"line {number}: part {part!r} publishes no programs", line)
            else:
                _part(found, part, buildout[part], reader, log_dir)
    return found


def _priority_line(found: Gathered, reader: OptionReader, number: int, line: str) -> None:
    try:
        program = parse_program(line)
    except Invalid as error:
        reader.problem("programs", f"line {number}: {error}", line)
        return
    found.programs.append(program)
    if program.address:
        claim_address(reader, "programs", found.addresses, program.address, program.name, line)


def _part(found: Gathered, part: str, section: Mapping[str, str], reader: OptionReader, log_dir: Path) -> None:
    """The programs and listeners a part published."""
    try:
        published = collect(part, section)
    except ConfigError as error:
        reader.problems.extend(error.problems)
        return
    for item in published:
        for address in filter(None, (item.address, *item.other_addresses)):
            claim_address(reader, "programs", found.addresses, address, item.name, str(address))
        if item.kind == "eventlistener":  # such as the exporter, which listens on a port too
            found.listeners.append(listener_from_part(item, log_dir))
            continue
        program = program_from_part(item, log_dir)
        found.programs.append(program)
        found.from_parts.append(program)


def _group_part(found: Gathered, part: str, section: Mapping[str, str], reader: OptionReader) -> None:
    """A sitestack:group part: [group:x] with the programs it names."""
    try:
        found.groups.append(Group(section.get("group-name", part),
                                  convert.priority(section.get("group-priority", "999")),
                                  tuple(section["group-programs"].split())))
    except Invalid as error:
        reader.problem("programs", f"part {part!r} published a bad group: {error}", part)


def balancer_of(buildout: Buildout, reader: OptionReader) -> Balancer | None:
    """haproxy's runtime socket and backend, for commands that take a client out of rotation."""
    part = reader.raw("balancer").strip()
    if not part:
        return None
    if part not in buildout or "stats-socket" not in buildout[part]:
        reader.problem("balancer", "expected the name of a haproxy part (one that publishes stats-socket)", part)
        return None
    section = buildout[part]
    if "backend" not in section:
        reader.problem("balancer", "expected the name of a haproxy part (one that publishes backend)", part)
        return None
    servers = tuple(entry.partition("=")[0] for entry in section.get("servers", "").split())
    return Balancer(section["stats-socket"], section["backend"], servers, part)


def edge_of(buildout: Buildout, reader: OptionReader) -> Edge | None:
    """The edge part's program and admin socket, for bin/sitestack reload."""
    part = reader.raw("edge").strip()
    if not part:
        return None
    if part not in buildout or "stats-socket" not in buildout[part] or part not in buildout[part].get("programs", "").split():
        reader.problem("edge", "expected the name of an edge part (recipe sitestack:edge)", part)
        return None
    return Edge(part, buildout[part]["stats-socket"])


def backup_of(buildout: Buildout, reader: OptionReader) -> str:
    """The backup part's settings file, for bin/sitestack restore, status and check."""
    part = reader.raw("backup").strip()
    if part and (part not in buildout or "config" not in buildout[part]):
        reader.problem("backup", "expected the name of a backup part (one that publishes config)", part)
        return ""
    return buildout[part]["config"] if part else ""


def agent_of(buildout: Buildout, reader: OptionReader) -> dict[str, Any] | None:
    """The agent part's description (its address, state file, clients), for the restart routine."""
    part = reader.raw("agent").strip()
    if not part:
        return None
    if part not in buildout or "description" not in buildout[part]:
        reader.problem("agent", "expected the name of an agent part (recipe sitestack:agent)", part)
        return None
    return dict(json.loads(buildout[part]["description"]))

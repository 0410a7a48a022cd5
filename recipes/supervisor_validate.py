"""What supervisord would refuse at start, or quietly get wrong, in a SupervisorConfig."""
from __future__ import annotations

import os
import shlex

from sitestack.recipes import convert
from sitestack.recipes.errors import Invalid, Problem
from sitestack.recipes.supervisor_model import SupervisorConfig, pool_names_apart


def validate(config: SupervisorConfig) -> list[Problem]:
    """Problems supervisord would refuse at start, or quietly get wrong."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for kind, names in (("programs", [p.name for p in config.programs]),
                        ("eventlisteners", [e.name for e in config.listeners])):
        for name in names:
            if name in seen:
                problems.append(Problem(kind, f"{name!r} is defined twice", name))
            seen[name] = kind
    for program in config.programs:
        if not pool_names_apart(program.numprocs, program.setting("process_name")):
            problems.append(Problem(
                "programs", f"{program.name!r}: numprocs > 1 needs %(process_num)s in process_name",
                program.setting("process_name", program.name)))
    grouped: dict[str, str] = {}
    group_names: set[str] = set()
    for group in config.groups:
        if group.name in group_names:
            problems.append(Problem("groups", f"group {group.name!r} is defined twice", group.name))
        group_names.add(group.name)
        for member in group.programs:
            if seen.get(member) == "eventlisteners":
                problems.append(Problem("groups", f"group {group.name!r}: {member!r} is an event listener; "
                                        "supervisor does not allow listeners in groups", member))
            elif member not in seen:
                problems.append(Problem("groups", f"group {group.name!r} names an unknown program {member!r}", member))
            elif member in grouped:
                problems.append(Problem("groups", f"program {member!r} is in groups {grouped[member]!r} "
                                        f"and {group.name!r}", member))
            grouped[member] = group.name
    if set(group_names) & set(seen):
        clash = sorted(set(group_names) & set(seen))[0]
        problems.append(Problem("groups", f"{clash!r} is both a group and a program", clash))
    problems += memmon_problems(config)
    problems += log_file_problems(config)
    return problems


def log_file_problems(config: SupervisorConfig) -> list[Problem]:
    """Two programs (or listeners) writing one log file: their lines interleave and rotation breaks."""
    problems: list[Problem] = []
    writers: dict[str, str] = {}
    for kind, entries in (("programs", config.programs), ("eventlisteners", config.listeners)):
        for entry in entries:
            for key in ("stdout_logfile", "stderr_logfile"):
                path = dict(entry.settings).get(key, "")
                if not path or path.upper() in ("AUTO", "NONE", "SYSLOG") or "%(" in path:
                    continue
                owner = f"{entry.name} ({key})"
                if path in writers and not writers[path].startswith(f"{entry.name} "):
                    problems.append(Problem(kind, f"{owner} and {writers[path]} write the same log file", path))
                writers.setdefault(path, owner)
    return problems


def memmon_problems(config: SupervisorConfig) -> list[Problem]:
    """memmon's -g/-p/-a quotas: each names a group or program of this config and a valid size."""
    groups = {g.name for g in config.groups}
    programs = {p.name for p in config.programs}
    renamed = any(p.setting("process_name") for p in config.programs)
    problems: list[Problem] = []
    for listener in config.listeners:
        try:
            words = shlex.split(listener.command)
        except ValueError:
            continue
        if not words or os.path.basename(words[0]) != "memmon":
            continue
        for flag, value in zip(words, words[1:]):
            if flag not in ("-g", "-p", "-a"):
                continue
            target, _, size = value.rpartition("=") if flag != "-a" else ("", "", value)
            try:
                convert.byte_size(size)
            except Invalid as error:
                problems.append(Problem("eventlisteners", f"{listener.name}: memmon {flag}: {error}", value))
                continue
            if flag == "-g" and target not in groups:
                problems.append(Problem("eventlisteners", f"{listener.name}: memmon -g names an unknown group "
                                        f"{target!r}; groups: {', '.join(sorted(groups)) or 'none'}", value))
            elif flag == "-p" and not renamed and target.rpartition(":")[2] not in programs:
                problems.append(Problem("eventlisteners", f"{listener.name}: memmon -p names an unknown "
                                        f"program {target!r}", value))
    return problems

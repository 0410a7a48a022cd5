"""The watchdog's default rules, from the programs' typed description: memmon quotas per group or
program, one httpok per watched health URL.

The rules are sitestack.listeners.rules' own types (MemoryRules, HealthWatch), the ones the watchdog decodes
its command line into; `watchdog_arguments` (a template filter) prints them in that one grammar,
superlance's memmon/httpok flags, so operators see the rules in `ps` and supervisorctl.
Pure: no zc.buildout, no filesystem.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sitestack.listeners.rules import HealthWatch, MemoryRules
from sitestack.recipes import convert
from sitestack.recipes.program_model import process_names
from sitestack.recipes.errors import Invalid
from sitestack.recipes.supervisor_model import Group, Program


@dataclass(frozen=True)
class WatchdogRules:
    """What sitestack-watchdog watches; grace None: the watchdog's own default."""

    memory: MemoryRules | None = None
    health: tuple[HealthWatch, ...] = ()
    grace: int | None = None

    def __bool__(self) -> bool:
        return bool(self.memory or self.health)


def default_rules(programs: Sequence[Program], groups: Sequence[Group], timeout: int, email: str,
                  grace: int | None = None) -> WatchdogRules:
    """memmon: one -g per group whose members share one quota, else -p per program (per process of
    a pool); httpok: one per program with a health URL that the watchdog restarts."""
    group_quotas: list[tuple[str, int]] = []
    covered: set[str] = set()
    for group in groups:
        quotas = {p.memory_quota for p in programs if p.name in group.programs}
        quota = quotas.pop() if len(quotas) == 1 else None
        if quota is not None:
            group_quotas.append((group.name, quota))
            covered.update(group.programs)
    program_quotas: list[tuple[str, int]] = []
    for program in programs:
        if program.memory_quota and program.name not in covered:
            program_quotas += [(spec, program.memory_quota) for spec in quota_targets(program, groups)]
    memory = MemoryRules(programs=tuple(program_quotas), groups=tuple(group_quotas), email=email) \
        if group_quotas or program_quotas else None
    health = tuple(HealthWatch(url=p.health_url, programs=(p.name,), timeout=float(timeout), email=email)
                   for p in programs if p.health_url and p.watchdog)
    return WatchdogRules(memory, health, grace)


def quota_targets(program: Program, groups: Sequence[Group]) -> list[str]:
    """memmon -p specs for a program: its name, or group:process for each process of a pool."""
    if program.numprocs <= 1:
        return [program.name]
    # a pool's processes are worker_00, worker_01, ...: name each as group:process
    group = next((g.name for g in groups if program.name in g.programs), program.name)
    try:
        names = process_names(program.name, dict(program.settings), group)
    except Invalid:  # supervisor itself refuses such a process_name at start, and says why
        names = [program.name]
    return [f"{group}:{name}" for name in names]


def watchdog_arguments(rules: WatchdogRules) -> str:
    """The rules as sitestack-watchdog's arguments: [--grace N] :: memmon ... :: httpok ... (a template filter)."""
    words = ["--grace", str(rules.grace)] if rules.grace is not None else []
    if rules.memory:
        words += ["::", *memmon_words(rules.memory)]
    for watch in rules.health:
        words += ["::", *httpok_words(watch)]
    return " ".join(words)


def memmon_words(rules: MemoryRules) -> list[str]:
    """memmon's flags for the rules the default watchdog sets (quotas and the e-mail)."""
    words = ["memmon"]
    words += [w for name, size in rules.groups for w in ("-g", f"{name}={convert.format_size(size)}")]
    words += [w for name, size in rules.programs for w in ("-p", f"{name}={convert.format_size(size)}")]
    return words + (["-m", rules.email] if rules.email else [])


def httpok_words(watch: HealthWatch) -> list[str]:
    """httpok's flags for one watched URL."""
    words = ["httpok", *[w for spec in watch.programs for w in ("-p", spec)], "-t", f"{watch.timeout:g}"]
    return words + (["-m", watch.email] if watch.email else []) + [watch.url]

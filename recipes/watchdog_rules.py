"""The watchdog's default rules, from the programs' typed description: memory quotas per group or
program, one health check per watched health URL.

The rules are site.json's `watchdog` section (sitestack.recipes.description.WatchdogRules); the
watchdog reads them from there, and parses only the rules a user writes on its command line.
Pure: no zc.buildout, no filesystem.
"""
from __future__ import annotations

from collections.abc import Sequence

from sitestack.recipes.description import HealthCheck, MemoryQuotas, WatchdogRules
from sitestack.recipes.errors import Invalid
from sitestack.recipes.program_model import process_names
from sitestack.recipes.supervisor_model import Group, Program

__all__ = ["WatchdogRules", "default_rules", "quota_targets"]


def default_rules(programs: Sequence[Program], groups: Sequence[Group], timeout: int, email: str,
                  grace: int | None = None) -> WatchdogRules:
    """Memory: one quota per group whose members share one, else one per program (per process of
    a pool); health: one check per program with a health URL that the watchdog restarts."""
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
    memory = MemoryQuotas(groups=tuple(group_quotas), programs=tuple(program_quotas), email=email) \
        if group_quotas or program_quotas else None
    health = tuple(HealthCheck(url=p.health_url, programs=(p.name,), timeout=float(timeout), email=email)
                   for p in programs if p.health_url and p.watchdog)
    return WatchdogRules(memory, health, grace)


def quota_targets(program: Program, groups: Sequence[Group]) -> list[str]:
    """Program specs for a quota: its name, or group:process for each process of a pool."""
    if program.numprocs <= 1:
        return [program.name]
    # a pool's processes are worker_00, worker_01, ...: name each as group:process
    group = next((g.name for g in groups if program.name in g.programs), program.name)
    try:
        names = process_names(program.name, dict(program.settings), group)
    except Invalid:  # supervisor itself refuses such a process_name at start, and says why
        names = [program.name]
    return [f"{group}:{name}" for name in names]

"""The rules one watchdog process applies: site.json's default rules and those on its command line.

The supervisor part writes the default rules into site.json (its `watchdog` section); the
watchdog turns them into the same MemoryRules and HealthWatch a memmon/httpok command line gives,
and prints what it applies in its own command-line grammar (`--grace 10 :: memmon ... :: httpok ...`)
for its log, so operators see the rules and can copy them into a line of their own.
Pure: no supervisor, no network, no filesystem.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from sitestack.listeners.command_line import SEPARATOR, Settings
from sitestack.listeners.rules import SENDMAIL, HealthWatch, MemoryRules
from sitestack.recipes.convert import format_size
from sitestack.recipes.description import Site, WatchdogRules

DEFAULT_GRACE = 10.0  # seconds; a program's start_timeout in site.json wins for it


@dataclass(frozen=True)
class Ruleset:
    """What the watchdog checks on each tick, and the grace of a program that has not answered yet."""

    memory: tuple[MemoryRules, ...] = ()
    health: tuple[HealthWatch, ...] = ()
    grace: float = DEFAULT_GRACE


def site_rules(rules: WatchdogRules) -> tuple[list[MemoryRules], list[HealthWatch]]:
    """site.json's default rules as the watchdog's own."""
    memory = [MemoryRules(programs=rules.memory.programs, groups=rules.memory.groups, email=rules.memory.email)] \
        if rules.memory else []
    health = [HealthWatch(url=h.url, programs=h.programs, timeout=h.timeout, email=h.email) for h in rules.health]
    return memory, health


def ruleset(settings: Settings, site: Site) -> Ruleset:
    """site.json's default rules (for sitestack-watchdog, not sitestack-memmon/-httpok), then the
    command line's; --grace on the command line wins over site.json's grace."""
    memory: list[MemoryRules] = []
    health: list[HealthWatch] = []
    grace = settings.grace
    if settings.site_rules and site.watchdog:
        memory, health = site_rules(site.watchdog)
        if grace is None and site.watchdog.grace is not None:
            grace = float(site.watchdog.grace)
    return Ruleset(tuple(memory + settings.memory), tuple(health + settings.health),
                   DEFAULT_GRACE if grace is None else grace)


def describe(rules: Ruleset) -> str:
    """The rules as sitestack-watchdog's arguments: --grace S :: memmon ... :: httpok ... URL."""
    words = ["--grace", f"{rules.grace:g}"]
    for memory in rules.memory:
        words += [SEPARATOR, "memmon", *memmon_arguments(memory)]
    for watch in rules.health:
        words += [SEPARATOR, "httpok", *httpok_arguments(watch)]
    return shlex.join(words)


def memmon_arguments(rules: MemoryRules) -> list[str]:
    """memmon's flags for the rules (the inverse of rules.parse_memmon)."""
    words = ["-c"] if rules.cumulative else []
    words += [w for name, size in rules.groups for w in ("-g", f"{name}={format_size(size)}")]
    words += [w for name, size in rules.programs for w in ("-p", f"{name}={format_size(size)}")]
    words += ["-a", format_size(rules.any)] if rules.any is not None else []
    words += ["-m", rules.email] if rules.email else []
    words += ["-s", rules.sendmail] if rules.sendmail != SENDMAIL else []
    words += ["-u", f"{rules.uptime_limit:g}"] if rules.uptime_limit is not None else []
    return words + (["-n", rules.name] if rules.name != "memmon" else [])


def httpok_arguments(watch: HealthWatch) -> list[str]:
    """httpok's flags and URL for one watched URL (the inverse of rules.parse_httpok)."""
    words = [w for spec in watch.programs for w in ("-p", spec)] + (["-a"] if watch.any else [])
    words += ["-t", f"{watch.timeout:g}"]
    words += [w for status in watch.statuses for w in ("-c", str(status))] if watch.statuses != (200,) else []
    words += ["-b", watch.inbody] if watch.inbody else []
    words += ["-m", watch.email] if watch.email else []
    words += ["-s", watch.sendmail] if watch.sendmail != SENDMAIL else []
    words += [] if watch.eager else ["-E"]
    return words + (["-n", watch.name] if watch.name != "httpok" else []) + [watch.url]

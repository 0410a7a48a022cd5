"""The watchdog's command line: POLICY options, then `:: memmon ...` / `:: httpok ...` segments
(the rules a user writes; the default rules are in site.json, see sitestack.listeners.ruleset).

See listeners/watchdog.py for the syntax; the superlance flags of each segment are parsed by
sitestack.listeners.rules (parse_memmon, parse_httpok).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sitestack.control.restart import Policy
from sitestack.listeners.rules import HealthWatch, MemoryRules, UsageError, parse_httpok, parse_memmon

SEPARATOR = "::"
# Policy options: flag -> (Policy field, type, lowest value)
POLICY: dict[str, tuple[str, Callable[[str], Any], float]] = {
    "--max-out": ("max_out", int, 1), "--per-hour": ("per_hour", int, 1), "--drain-timeout": ("drain_timeout", float, 0),
}


@dataclass
class Settings:
    """The whole command line."""

    site: str = ""
    failures: int = 2
    grace: float | None = None  # None: site.json's grace, else sitestack.listeners.ruleset.DEFAULT_GRACE
    recheck: float = 1.0
    site_rules: bool = True  # apply site.json's default rules (sitestack-watchdog; not sitestack-memmon/-httpok)
    policy: Policy = Policy()
    memory: list[MemoryRules] = field(default_factory=list)
    health: list[HealthWatch] = field(default_factory=list)


def _number(flag: str, text: str, kind: Callable[[str], Any] = float, low: float = 0) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise UsageError(f"{flag}: expected a number of at least {low:g} (got {text!r})")
    return value


def parse_command_line(argv: list[str], default: str = "") -> Settings:
    """Policy options first, then `:: memmon ...`/`:: httpok ...` segments (or the default kind's args)."""
    settings = Settings(site_rules=not default)
    rest = parse_policy(settings, list(argv))
    if default and (not rest or rest[0] != SEPARATOR):
        rest = [SEPARATOR, default, *rest]
    segments: list[list[str]] = []
    for word in rest:
        if word == SEPARATOR:
            segments.append([])
        elif not segments:
            raise UsageError(f"expected '{SEPARATOR} memmon ...' or '{SEPARATOR} httpok ...' (got {word!r})")
        else:
            segments[-1].append(word)
    for segment in segments:
        kind, args = (segment[0], segment[1:]) if segment else ("", [])
        if kind == "memmon":
            settings.memory.append(parse_memmon(args))
        elif kind == "httpok":
            settings.health.append(parse_httpok(args))
        else:
            raise UsageError(f"expected memmon or httpok after '{SEPARATOR}' (got {kind!r})")
    if not settings.site:
        raise UsageError("--site: expected the site.json the supervisor part wrote")
    return settings


def parse_policy(settings: Settings, rest: list[str]) -> list[str]:
    """Read the long options at the start of rest into settings; returns what follows them."""
    policy: dict[str, Any] = {}
    warmup: list[str] = []
    while rest and rest[0].startswith("--") and rest[0] != SEPARATOR:
        flag = rest.pop(0)
        if not rest:
            raise UsageError(f"{flag}: expected a value")
        value = rest.pop(0)
        if flag == "--site":
            settings.site = value
        elif flag == "--failures":
            settings.failures = _number(flag, value, int, 1)
        elif flag == "--grace":
            settings.grace = _number(flag, value)
        elif flag == "--recheck":
            settings.recheck = _number(flag, value)
        elif flag in POLICY:
            key, kind, low = POLICY[flag]
            policy[key] = _number(flag, value, kind, low)
        elif flag == "--warmup":
            warmup.append(value)
        else:
            raise UsageError(f"{flag}: unknown option; expected --site, --failures, --grace, --recheck, "
                             "--max-out, --per-hour, --drain-timeout or --warmup")
    settings.policy = Policy(warmup=tuple(warmup), **policy)
    return rest

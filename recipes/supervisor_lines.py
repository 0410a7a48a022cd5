"""collective.recipe.supervisor's line syntax, parsed strictly into the supervisor model.

    programs:       priority name [(key=value ...)] command [[args]] [directory] [true|false] [user]
                    sitestack's keys inside (...) make it an app client like a part's:
                    address=host:port health-url=/path-or-http://... memory-quota=800MB start-timeout=300
    eventlisteners: name [(key=value ...)] EVENTS command [[args]]
    groups:         priority name prog1,prog2

Unlike the recipe it replaces, a token that fits nowhere is an error that names it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import urlsplit

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid
from sitestack.recipes.supervisor_model import (
    LISTENER_OPTIONS,
    PROGRAM_OPTIONS,
    EventListener,
    Group,
    Program,
    _events,
    split_structural,
    check_value,
    convert_settings,
)

# (key=value ...) may hold supervisor's own %(name)s expansions, e.g. process_name=%(program_name)s_%(process_num)02d
_TOKEN = re.compile(
    r"\s*(?:\((?P<opts>(?:[^()]|%\([A-Za-z_]+\))*)\)|\[(?P<args>[^\[\]]*)\]|(?P<word>(?:[^\s()\[\]]|%\([A-Za-z_]+\))+))"
)
_BOOL = {"true": True, "false": False}
CLIENT_KEYS = ("address", "health-url", "memory-quota", "start-timeout")


def tokens(line: str) -> list[tuple[str, str]]:
    """Split a line into ('word'|'opts'|'args', text) tokens; unbalanced brackets are an error."""
    out: list[tuple[str, str]] = []
    position, text = 0, line.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            rest = text[position:].strip()
            raise Invalid(f"cannot read {rest!r}: brackets and parentheses must be balanced and not nested")
        kind = match.lastgroup or "word"
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def _options(text: str, known: Mapping[str, object]) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise Invalid(f"expected key=value inside (...) (got {item!r})")
        pairs.append((key, value))
    return pairs


def _take(items: list[tuple[str, str]], kind: str) -> str | None:
    if items and items[0][0] == kind:
        return items.pop(0)[1]
    return None


def _word(items: list[tuple[str, str]], what: str) -> str:
    value = _take(items, "word")
    if value is None:
        got = items[0][1] if items else "end of line"
        raise Invalid(f"expected {what} (got {got!r})")
    return value


def parse_program(line: str) -> Program:
    """One `programs` line."""
    items = tokens(line)
    priority = convert.priority(_word(items, "a priority"))
    name = convert.name(_word(items, "a program name"))
    opts = _take(items, "opts")
    pairs = _options(opts, PROGRAM_OPTIONS) if opts is not None else []
    if any(k == "priority" for k, _ in pairs):
        raise Invalid("give the priority as the first word, not inside (...)")
    client, others = split_structural(pairs, CLIENT_KEYS)
    structural, rest = split_structural(others, ("directory", "user", "redirect_stderr"))
    settings = convert_settings(rest, PROGRAM_OPTIONS)
    command = check_value(_word(items, "a command"))
    args = _take(items, "args")
    directory = redirect = user = None
    if items and items[0][0] == "word" and items[0][1] not in _BOOL:
        directory = items.pop(0)[1]
    if items and items[0][0] == "word" and items[0][1] in _BOOL:
        redirect = _BOOL[items.pop(0)[1]]
    if items and items[0][0] == "word" and items[0][1] not in _BOOL:
        user = items.pop(0)[1]
    if items:
        raise Invalid(f"unexpected {items[0][1]!r} after the {_last_field(directory, redirect, user)}")
    for key, positional in (("directory", directory), ("user", user), ("redirect_stderr", redirect)):
        if key in structural and positional is not None:
            raise Invalid(f"{key} given both inside (...) and as a word")
    if "redirect_stderr" in structural:
        redirect = convert.boolean(structural["redirect_stderr"])
    full = command + (" " + args.strip() if args and args.strip() else "")
    return Program(
        name=name,
        command=check_value(full),
        priority=priority,
        directory=check_value(directory or structural.get("directory") or os.path.dirname(command)),
        redirect_stderr=bool(redirect),
        user=check_value(user or structural.get("user", "")),
        settings=settings,
        **client_fields(client),
    )


class ClientFields(TypedDict, total=False):
    """The Program fields a line's (...) may give."""

    address: Address
    health_url: str
    watchdog: bool
    memory_quota: int
    start_timeout: int


def client_fields(given: dict[str, str]) -> ClientFields:
    """address, health URL, memory quota and start timeout from a line's (...), as Program fields."""
    fields: ClientFields = {}
    if "address" in given:
        fields["address"] = convert.address(given["address"])
    if "health-url" in given:
        fields["health_url"] = _health_url(given["health-url"], fields.get("address"))
        fields["watchdog"] = True
    if "memory-quota" in given:
        fields["memory_quota"] = convert.byte_size(given["memory-quota"])
    if "start-timeout" in given:
        try:
            fields["start_timeout"] = convert.integer(given["start-timeout"], 1, 86400)
        except Invalid:
            raise Invalid(f"start-timeout: expected whole seconds from 1 to 86400 "
                          f"(got {given['start-timeout']!r})") from None
    return fields


def _health_url(text: str, address: Address | None) -> str:
    """http://host:port/path, or /path on the line's address."""
    if text.startswith("/"):
        if not address:
            raise Invalid(f"health-url {text!r} is a path: give address=host:port too, or a whole http:// URL")
        return f"http://{address}{convert.url_path(text)}"
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.netloc or any(c.isspace() for c in text):
        raise Invalid(f"health-url: expected /path or http://host:port/path (got {text!r})")
    return text


def _last_field(directory: str | None, redirect: bool | None, user: str | None) -> str:
    if user is not None:
        return "user"
    if redirect is not None:
        return "true|false (redirect_stderr)"
    if directory is not None:
        return "directory"
    return "command and its [args]"


def parse_listener(line: str) -> EventListener:
    """One `eventlisteners` line."""
    items = tokens(line)
    name = convert.name(_word(items, "a listener name"))
    opts = _take(items, "opts")
    settings = convert_settings(_options(opts, LISTENER_OPTIONS) if opts is not None else [], LISTENER_OPTIONS)
    events = _events(_word(items, "the events, such as TICK_60"))
    command = check_value(_word(items, "a command"))
    args = _take(items, "args")
    if items:
        raise Invalid(f"unexpected {items[0][1]!r} after the command and its [args]")
    full = command + (" " + args.strip() if args and args.strip() else "")
    return EventListener(name=name, events=events, command=check_value(full), settings=settings)


def parse_group(line: str) -> Group:
    """One `groups` line."""
    items = tokens(line)
    priority = convert.priority(_word(items, "a priority"))
    name = convert.name(_word(items, "a group name"))
    members_text = _word(items, "the programs, comma separated")
    if items:
        raise Invalid(f"unexpected {items[0][1]!r}: programs are separated by commas without spaces")
    members = tuple(convert.name(m) for m in members_text.split(","))
    return Group(name=name, priority=priority, programs=members)


def is_program_line(line: str) -> bool:
    """A `programs` line in collective.recipe.supervisor's syntax starts with a priority."""
    return bool(re.match(r"\s*\d", line))

"""Checks of buildout.cfg as a file, before zc.buildout reads it: encoding, line endings, duplicates.

zc.buildout reads a byte order mark as part of the first line, and silently keeps the last of two
values given to one option; CR LF line endings are a sign of a file edited elsewhere. Each is refused
with one line.
"""
from __future__ import annotations

import re
from pathlib import Path

import zc.buildout

BOM = b"\xef\xbb\xbf"
_SECTION = re.compile(r"\[([^\]]+)\]")
# an option line starts at column 0: `name = value`, `name += value`, `name -= value`, `name: value`
_OPTION = re.compile(r"([^\s\[#;][^=:]*?)\s*([+-]?=|:)(.*)")


def config_file_name(argv: list[str]) -> str:
    """The file bin/buildout reads: -c FILE / -cFILE, else buildout.cfg."""
    for index, arg in enumerate(argv):
        if arg == "-c" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("-c") and len(arg) > 2:
            return arg[2:]
    return "buildout.cfg"


def fail(message: str) -> None:
    raise zc.buildout.UserError(message)


def check_config_file(path: Path) -> None:
    """Raise UserError (one line) for a BOM, bytes that are not UTF-8, CR LF, or an option given twice."""
    try:
        data = path.read_bytes()
    except OSError:
        return  # zc.buildout says it cannot open it
    name = path.name
    if data.startswith(BOM):
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
        fail(f"{name}: line 1: starts with a UTF-8 byte order mark, which zc.buildout reads as part of "
             f"the first line; save the file as UTF-8 without it (got {first!r})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        lineno = data[: error.start].count(b"\n") + 1
        fail(f"{name}: line {lineno}: not UTF-8; save the file as UTF-8 (got {data.splitlines()[lineno - 1]!r})")
    check_line_endings(name, text)
    check_duplicates(name, text)


def check_line_endings(name: str, text: str) -> None:
    """CR LF (or a lone CR) anywhere: name the first option line that has one."""
    if "\r" not in text:
        return
    section = ""
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        if header := _SECTION.match(line):
            section = header.group(1)
        option = _OPTION.fullmatch(line.rstrip("\r")) if section and not header else None
        if option and "\r" in line:
            fail(f"[{section}] {option.group(1)}: line {lineno} of {name} ends with CR LF (Windows line endings); "
                 f"convert the file with: sed -i 's/\\r$//' {name} (got {option.group(3).strip() + chr(13)!r})")
    lineno = next(n for n, line in enumerate(lines, 1) if "\r" in line)
    fail(f"{name}: line {lineno}: ends with CR LF (Windows line endings); convert the file with: "
         f"sed -i 's/\\r$//' {name} (got {lines[lineno - 1]!r})")


def check_duplicates(name: str, text: str) -> None:
    """An option set twice in one section of this file (zc.buildout would keep the last silently)."""
    section = ""
    seen: dict[tuple[str, str, str], tuple[int, str]] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if header := _SECTION.match(line):
            section = header.group(1).strip()
            continue
        option = _OPTION.fullmatch(line) if section else None
        if not option:
            continue
        key = (section, option.group(1).strip(), option.group(2))
        value = option.group(3).strip()
        if key in seen:
            first, before = seen[key]
            fail(f"[{section}] {key[1]}: set twice in {name} (line {first}: {before!r}, line {lineno}: "
                 f"{value!r}); zc.buildout would silently keep the last, keep one (got {value!r})")
        seen[key] = (lineno, value)

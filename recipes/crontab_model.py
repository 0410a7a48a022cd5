"""The crontab block, pure: options -> CronEntry -> marked block text; merge and remove.

No zc.buildout, no I/O: the adapter in recipes/crontab.py reads and writes the crontab.
A block sits between a begin and an end marker keyed by the buildout directory and the
part name (as in z3c.recipe.usercrontab), so a re-run replaces it in place and uninstall
removes exactly it.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from sitestack.recipes import convert
from sitestack.recipes.errors import ConfigError, Invalid
from sitestack.recipes.render import render

# cron's own PATH is /usr/bin:/bin; supervisord's children (haproxy, varnishd) live in sbin.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SPECIAL_TIMES = ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
NAMES = {
    "month": ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "day-of-week": ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_ITEM = re.compile(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Unquoted, these would make the shell do more than run one command (and could detach
# or comment out the log redirection sitestack appends).
_OPERATORS = frozenset(";&|<>()`\n")


# ---- converters: option text -> value ---------------------------------------------------

def cron_times(text: str) -> str:
    """@reboot, @daily, ... or five cron fields such as '0 3 * * *'."""
    value = " ".join(text.split())
    if value in SPECIAL_TIMES:
        return value
    fields = value.split(" ")
    if value.startswith("@") or len(fields) != 5:
        raise Invalid("expected " + ", ".join(SPECIAL_TIMES) + " or five cron fields such as '0 3 * * *'")
    for (name, low, high), field in zip(FIELDS, fields):
        if field.lower() not in NAMES.get(name, ()) and not all(
            _item_ok(item, low, high) for item in field.split(",")
        ):
            raise Invalid(
                f"bad {name} field {field!r}: expected '*', a number from {low} to {high}, "
                "a range such as 1-5, a step such as */15, or a list of these"
                + (f", or a name such as {NAMES[name][0]!r}" if name in NAMES else "")
            )
    return value


def _item_ok(item: str, low: int, high: int) -> bool:
    match = _ITEM.fullmatch(item)
    if match is None:
        return False
    numbers = [int(n) for n in match.group(2, 3) if n is not None]
    step = match.group(4)
    return (
        all(low <= n <= high for n in numbers)
        and numbers == sorted(numbers)
        and (step is None or (int(step) >= 1 and (match.group(1) == "*" or match.group(3) is not None)))
    )


def cron_command(text: str) -> str:
    """One shell command with its arguments; the program an absolute path or a bare name."""
    value = _no_escaped_percent(convert.single_line(text))
    operator = _unquoted_operator(value)
    if operator:
        raise Invalid(
            f"expected one command with its arguments, without shell operators such as ';', '&&', "
            f"'|', '>' or '#' (found {operator}); put more in a script"
        )
    words = [w for w in shlex.split(value) if not _is_assignment(w)]
    if not words:
        raise Invalid("expected a command such as /srv/site/bin/supervisord")
    if "/" in words[0] and not words[0].startswith(("/", "~")):
        raise Invalid("expected an absolute path to the program: cron runs it from your home directory")
    return value


def command_line(text: str) -> str:
    """A command and its arguments, split like a shell would but run without one."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise Invalid(f"expected a command line: {error}") from None
    if not words or not words[0]:
        raise Invalid("expected a command line such as 'crontab -l'")
    return text.strip()


def environment(text: str) -> tuple[tuple[str, str], ...]:
    """NAME=value lines, each at most once."""
    pairs: dict[str, str] = {}
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not _ENV_NAME.fullmatch(name):
            raise Invalid("expected NAME=value lines such as LANG=C.UTF-8")
        if name in pairs:
            raise Invalid(f"{name} is given twice")
        pairs[name] = _no_escaped_percent(convert.single_line(value))
    return tuple(pairs.items())


def _no_escaped_percent(value: str) -> str:
    if "\\%" in value:
        raise Invalid("write '%' without a backslash; sitestack escapes it for cron")
    return value


def _is_assignment(word: str) -> bool:
    name, sep, _ = word.partition("=")
    return bool(sep) and _ENV_NAME.fullmatch(name) is not None


def _unquoted_operator(text: str) -> str | None:
    """The first shell operator outside quotes, '#' starting a word, or an unclosed quote."""
    quote, escaped, word_start = "", False, True
    for ch in text:
        if escaped:
            escaped = False
        elif quote:
            quote = "" if ch == quote else quote
            escaped = quote == '"' and ch == "\\"
        elif ch == "\\":
            escaped = True
        elif ch in "'\"":
            quote = ch
        elif ch in _OPERATORS or (ch == "#" and word_start):
            return repr(ch)
        word_start = not quote and ch in " \t"
    return "an unclosed quote" if quote or escaped else None


# ---- model and rendering (pure) ---------------------------------------------------------

@dataclass(frozen=True)
class CronEntry:
    """What cron runs, when, with which environment, and where its output goes."""

    times: str
    command: str
    logfile: str
    environment: tuple[tuple[str, str], ...] = ()
    enabled: bool = True


def block_key(directory: str, part: str) -> str:
    """What tells this part's block apart from every other: the part and the buildout."""
    return f"sitestack [{part}] {directory}"


def begin_marker(key: str) -> str:
    return f"# {key}: begin -- generated by bin/buildout, do not edit"


def end_marker(key: str) -> str:
    return f"# {key}: end"


def cron_line(entry: CronEntry) -> str:
    """The crontab line: environment as command prefixes, output appended to the log file.

    The environment is put on the command, not as cron NAME=value lines, because cron
    applies those to every line after them, other people's lines included. '%' is escaped
    because cron turns an unescaped one into a newline and feeds the rest to stdin.
    """
    words = [f"{name}={shlex.quote(value)}" for name, value in entry.environment]
    words += [entry.command, f">>{shlex.quote(entry.logfile)}", "2>&1"]
    return f"{entry.times} " + " ".join(words).replace("%", "\\%")


def render_crontab_block(key: str, entry: CronEntry, *more: CronEntry) -> str:
    """The marked block for this part (one line per entry), ending with a newline."""
    return render(
        "crontab-block.j2", begin=begin_marker(key), end=end_marker(key),
        lines=[cron_line(e) for e in (entry, *more)], enabled=entry.enabled,
    )


def normalised(text: str) -> str:
    """text with a final newline added when it has lines but lacks one (cron needs it)."""
    return text + "\n" if text and not text.endswith("\n") else text


def merge(existing: str, block: str, key: str) -> str:
    """existing with this key's block replaced in place, or appended; other lines untouched."""
    lines = _lines(existing)
    if _find_block(_lines(block), key) != (0, len(_lines(block)) - 1):
        raise ValueError(f"not a block for {key!r}: {block!r}")
    found = _find_block(lines, key)
    if found:
        lines[found[0] : found[1] + 1] = _lines(normalised(block))
        return normalised("".join(lines))
    return normalised(existing) + normalised(block)


def remove(existing: str, key: str) -> str:
    """existing without this key's block; unchanged when there is none."""
    lines = _lines(existing)
    found = _find_block(lines, key)
    if not found:
        return existing
    del lines[found[0] : found[1] + 1]
    return normalised("".join(lines))


def _lines(text: str) -> list[str]:
    """Lines with their newline kept; only '\\n' ends a line, as for cron."""
    parts = text.split("\n")
    last = parts.pop()
    return [part + "\n" for part in parts] + ([last] if last else [])


def _find_block(lines: list[str], key: str) -> tuple[int, int] | None:
    """(begin, end) line indexes of this key's block; a broken block is an error, not a guess."""
    begins = [i for i, line in enumerate(lines) if line.rstrip() == begin_marker(key)]
    ends = [i for i, line in enumerate(lines) if line.rstrip() == end_marker(key)]
    if not begins and not ends:
        return None
    if len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0]:
        return begins[0], ends[0]
    where = ", ".join(f"line {i + 1}" for i in sorted(begins + ends))
    raise ConfigError.single(
        "crontab",
        f"the markers of block {key!r} do not make one begin...end pair ({where}); "
        "fix the crontab by hand with 'crontab -e'",
    )

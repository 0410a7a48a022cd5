"""The supervisor configuration as data: programs, event listeners, groups, and their checks."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.description import Consumer
from sitestack.recipes.errors import Invalid

Settings = tuple[tuple[str, str], ...]
SIGNALS = ("TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2")
EXPANSIONS = ("program_name", "process_num", "group_name", "host_node_name", "here", "numprocs")
_EXPANSION = re.compile(r"%\((?:" + "|".join(EXPANSIONS) + r"|ENV_[A-Za-z_][A-Za-z0-9_]*)\)[#0 +-]*\d*[sd]")


def _boolean(text: str) -> str:
    return "true" if convert.boolean(text) else "false"


def _autorestart(text: str) -> str:
    if text.strip().lower() == "unexpected":
        return "unexpected"
    try:
        return _boolean(text)
    except Invalid:
        raise Invalid("expected true, false or unexpected") from None


def _signal(text: str) -> str:
    value = text.strip().upper().removeprefix("SIG")
    if value not in SIGNALS:
        raise Invalid("expected a signal name: " + ", ".join(SIGNALS))
    return value


def _exitcodes(text: str) -> str:
    codes = [c.strip() for c in text.split(",")]
    if not codes or not all(re.fullmatch(r"\d{1,3}", c) and int(c) <= 255 for c in codes):
        raise Invalid("expected exit codes such as 0,2")
    return ",".join(codes)


def _size(text: str) -> str:
    if text.strip() == "0":
        return "0"
    return convert.format_size(convert.byte_size(text))


def _nonnegative(text: str) -> str:
    return str(convert.integer(text, 0))


def _positive(text: str) -> str:
    return str(convert.integer(text, 1))


def _umask(text: str) -> str:
    return f"{convert.octal_mode(text):03o}"


def _events(text: str) -> str:
    names = [e.strip() for e in text.split(",")]
    if not names or not all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names):
        raise Invalid("expected event names such as TICK_60,PROCESS_STATE")
    return ",".join(names)


def _text(text: str) -> str:
    return check_value(text)


# Every option of supervisor's [program:x], with the converter that checks its value.
PROGRAM_OPTIONS: dict[str, Callable[[str], str]] = {
    "process_name": _text, "numprocs": _positive, "numprocs_start": _nonnegative,
    "umask": _umask, "autostart": _boolean, "autorestart": _autorestart,
    "startsecs": _nonnegative, "startretries": _nonnegative, "exitcodes": _exitcodes,
    "stopsignal": _signal, "stopwaitsecs": _nonnegative, "stopasgroup": _boolean,
    "killasgroup": _boolean, "redirect_stderr": _boolean, "environment": _text,
    "serverurl": _text, "priority": lambda t: str(convert.priority(t)), "directory": _text,
    "user": _text,
}
for _stream in ("stdout", "stderr"):
    PROGRAM_OPTIONS.update({
        f"{_stream}_logfile": _text, f"{_stream}_logfile_maxbytes": _size,
        f"{_stream}_logfile_backups": _nonnegative, f"{_stream}_capture_maxbytes": _size,
        f"{_stream}_events_enabled": _boolean, f"{_stream}_syslog": _boolean,
    })
LISTENER_OPTIONS = dict(PROGRAM_OPTIONS, buffer_size=_positive, result_handler=_text)
del LISTENER_OPTIONS["redirect_stderr"]  # supervisor refuses it for event listeners


def check_value(text: str) -> str:
    """A value supervisor can hold: one line, no ' ;' or ' #' (they start a comment)."""
    value = convert.single_line(text)
    if re.search(r"\s[;#]", value):
        raise Invalid("a ';' or '#' after a space starts a comment in supervisor's config")
    return value


def escape_percent(text: str) -> str:
    """Double every '%' except supervisor's own expansions such as %(program_name)s."""
    out, last = [], 0
    for match in _EXPANSION.finditer(text):
        out.append(text[last:match.start()].replace("%", "%%"))
        out.append(match.group(0))
        last = match.end()
    out.append(text[last:].replace("%", "%%"))
    return "".join(out)


def convert_settings(pairs: Sequence[tuple[str, str]], known: dict[str, Callable[[str], str]]) -> Settings:
    """Check (key, value) pairs against supervisor's options; Invalid names the first bad one."""
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key not in known:
            raise Invalid(f"{key!r} is not a supervisor option for this section")
        if key in seen:
            raise Invalid(f"{key!r} given twice")
        try:
            seen[key] = known[key](value)
        except Invalid as error:
            raise Invalid(f"{key}: {error} (got {value!r})") from None
    return tuple(seen.items())


# the options a Program holds as fields rather than in its settings
STRUCTURAL = ("priority", "directory", "user", "redirect_stderr")


def split_structural(pairs: Sequence[tuple[str, str]],
                     fields: tuple[str, ...] = STRUCTURAL) -> tuple[dict[str, str], Settings]:
    """(the options named in fields, the other settings in their order)."""
    return {k: v for k, v in pairs if k in fields}, tuple((k, v) for k, v in pairs if k not in fields)


def pool_names_apart(numprocs: int, process_name: str) -> bool:
    """A pool (numprocs > 1) needs %(process_num) in process_name, so each process has its own name."""
    return numprocs <= 1 or "%(process_num)" in process_name


@dataclass(frozen=True)
class Program:
    """A [program:x] section."""

    name: str
    command: str
    priority: int = 999
    directory: str = ""
    redirect_stderr: bool = False
    user: str = ""
    settings: Settings = ()
    group: str = ""
    health_url: str = ""
    memory_quota: int | None = None
    watchdog: bool = False
    address: Address | None = None
    start_timeout: int = 0  # seconds a restart waits for it to answer (0: the default)
    consumer: Consumer | None = None  # its config file, checked by its own binary

    def setting(self, key: str, default: str = "") -> str:
        return dict(self.settings).get(key, default)

    @property
    def numprocs(self) -> int:
        """How many processes supervisor runs of it (its settings are checked: a whole number)."""
        return int(self.setting("numprocs", "1"))


@dataclass(frozen=True)
class EventListener:
    """An [eventlistener:x] section (the default watchdog's rules are in site.json, not here)."""

    name: str
    events: str
    command: str
    settings: Settings = ()


@dataclass(frozen=True)
class Group:
    """A [group:x] section."""

    name: str
    priority: int
    programs: tuple[str, ...]


@dataclass(frozen=True)
class Control:
    """How supervisorctl and listeners talk to supervisord."""

    kind: str  # "unix" or "inet"
    file: str = ""
    chmod: str = "0700"
    chown: str = ""
    port: Address | None = None  # an inet control port
    username: str = ""
    password: str = ""
    serverurl: str = ""


@dataclass(frozen=True)
class Supervisord:
    """The [supervisord] section."""

    logfile: str
    pidfile: str
    childlogdir: str
    logfile_maxbytes: str = "50MB"
    logfile_backups: int = 10
    loglevel: str = "info"
    umask: str = "022"
    nodaemon: bool = False
    nocleanup: bool = False
    user: str = ""
    directory: str = ""
    environment: str = ""
    identifier: str = "supervisor"


@dataclass(frozen=True)
class SupervisorConfig:
    """Everything supervisord.conf holds."""

    supervisord: Supervisord | None
    control: Control | None
    programs: tuple[Program, ...] = ()
    listeners: tuple[EventListener, ...] = ()
    groups: tuple[Group, ...] = ()
    includes: tuple[str, ...] = ()
    rpc: bool = True
    # bin/supervisord is sitestack's own (sitestack.control.supervisord), so it can load sitestack.control.supervisor_rpc
    sitestack_rpc: bool = False
    extra_sections: tuple[tuple[str, Settings], ...] = field(default_factory=tuple)

"""superlance's memmon and httpok command lines, parsed into rules, and the decisions they make.

Pure: no supervisor, no network, no /proc. The flags keep superlance's meaning; what differs:
a spec may name a process, a group or group:name everywhere (memmon -p group:name works,
httpok -p accepts a group), each process is restarted at most once per tick whatever matches
it (the most specific quota wins: -p, then -g, then -a), and -n is only the listener's name.
"""
from __future__ import annotations

import getopt
import re
from dataclasses import dataclass, field
from typing import Any

SENDMAIL = "/usr/sbin/sendmail -t -i"
_SIZE = re.compile(r"(\d+)\s*(KB|MB|GB|K|M|G|B)?", re.IGNORECASE)
_SECONDS = re.compile(r"(\d+)([smhd]?)")
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}


class UsageError(Exception):
    """A bad listener command line; the message is one line naming the flag and the value."""


@dataclass(frozen=True)
class Process:
    """One supervisor process as getAllProcessInfo describes it."""

    group: str
    name: str
    pid: int
    state: str
    start: float = 0.0
    now: float = 0.0

    @property
    def namespec(self) -> str:
        return f"{self.group}:{self.name}"

    @property
    def uptime(self) -> float:
        return max(0.0, self.now - self.start) if self.start else 0.0

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> "Process":
        return cls(info["group"], info["name"], int(info["pid"]), info["statename"],
                   float(info.get("start", 0)), float(info.get("now", 0)))


def matches(spec: str, process: Process) -> bool:
    """A spec names a process (client1), a group (zeo-clients) or one member (zeo-clients:client1)."""
    return spec in (process.name, process.group, process.namespec)


def byte_size(flag: str, text: str) -> int:
    found = _SIZE.fullmatch(text.strip())
    if not found:
        raise UsageError(f"{flag}: expected a size such as 800MB (got {text!r})")
    return int(found.group(1)) * _UNITS[(found.group(2) or "").upper()]


def name_size(flag: str, text: str) -> tuple[str, int]:
    name, equals, size = text.rpartition("=")
    if not equals or not name:
        raise UsageError(f"{flag}: expected name=size such as zeo-clients=800MB (got {text!r})")
    return name, byte_size(flag, size)


def seconds(flag: str, text: str) -> float:
    found = _SECONDS.fullmatch(text.strip())
    if not found:
        raise UsageError(f"{flag}: expected seconds such as 60 or 1m, 1h, 1d (got {text!r})")
    return int(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]


def _getopt(program: str, argv: list[str], short: str) -> tuple[list[tuple[str, str]], list[str]]:
    try:
        return getopt.getopt(argv, short)
    except getopt.GetoptError as error:
        raise UsageError(f"{program}: {error}") from None


@dataclass(frozen=True)
class MemoryRules:
    """memmon [-c] [-p name=size] [-g group=size] [-a size] [-s sendmail] [-m email] [-u uptime] [-n name]."""

    programs: tuple[tuple[str, int], ...] = ()
    groups: tuple[tuple[str, int], ...] = ()
    any: int | None = None
    cumulative: bool = False
    sendmail: str = SENDMAIL
    email: str = ""
    uptime_limit: float | None = None  # mail only about processes younger than this
    name: str = "memmon"

    def quota(self, process: Process) -> int | None:
        """The most specific quota for a process: -p, then -g, then -a."""
        for spec, size in self.programs:
            if spec in (process.name, process.namespec):
                return size
        for spec, size in self.groups:
            if spec == process.group:
                return size
        return self.any

    def mail_about(self, process: Process) -> bool:
        return bool(self.email) and (self.uptime_limit is None or process.uptime < self.uptime_limit)


def parse_memmon(argv: list[str]) -> MemoryRules:
    opts, args = _getopt("memmon", argv, "hcp:g:a:s:m:u:n:")
    if args:
        raise UsageError(f"memmon: unexpected argument {args[0]!r}")
    values: dict[str, Any] = {"programs": [], "groups": []}
    for flag, value in opts:
        if flag == "-c":
            values["cumulative"] = True
        elif flag == "-p":
            values["programs"].append(name_size(flag, value))
        elif flag == "-g":
            values["groups"].append(name_size(flag, value))
        elif flag == "-a":
            values["any"] = byte_size(flag, value)
        elif flag == "-s":
            values["sendmail"] = value
        elif flag == "-m":
            values["email"] = value
        elif flag == "-u":
            values["uptime_limit"] = seconds(flag, value)
        elif flag == "-n":
            values["name"] = value
        elif flag == "-h":
            raise UsageError(MemoryRules.__doc__ or "memmon")
    return MemoryRules(**{**values, "programs": tuple(values["programs"]), "groups": tuple(values["groups"])})


def over_quota(rules: MemoryRules, processes: list[Process], rss: dict[int, int]) -> list[tuple[Process, int, int]]:
    """(process, rss, quota) for each RUNNING process above its quota; each process once."""
    found, seen = [], set()
    for process in processes:
        if process.state != "RUNNING" or process.namespec in seen or process.pid not in rss:
            continue
        quota = rules.quota(process)
        if quota is not None and rss[process.pid] > quota:
            found.append((process, rss[process.pid], quota))
            seen.add(process.namespec)
    return found


@dataclass(frozen=True)
class HealthWatch:
    """httpok [-p spec]... [-a] [-t timeout] [-c status]... [-b inbody] [-m email] [-s sendmail] [-e|-E] [-n name] URL."""

    url: str
    programs: tuple[str, ...] = ()
    any: bool = False
    timeout: float = 10.0
    statuses: tuple[int, ...] = (200,)
    inbody: str = ""
    email: str = ""
    sendmail: str = SENDMAIL
    eager: bool = True
    name: str = "httpok"

    def targets(self, processes: list[Process], exclude: str = "") -> list[Process]:
        """The processes this URL speaks for (every one with -a, except the listeners themselves)."""
        if self.any:
            return [p for p in processes if p.group != exclude and p.name != exclude]
        return [p for p in processes if any(matches(spec, p) for spec in self.programs)]

    def judge(self, status: int, body: str) -> str | None:
        """Why an answer is a failure, or None when it is fine."""
        if status == 0:
            return f"no answer within {self.timeout:g}s"
        if status not in self.statuses:
            return f"status {status}, expected {' or '.join(map(str, self.statuses))}"
        if self.inbody and self.inbody not in body:
            return f"body lacks {self.inbody!r}"
        return None


def parse_httpok(argv: list[str]) -> HealthWatch:
    opts, args = _getopt("httpok", argv, "hp:at:c:b:m:s:g:d:eEn:")
    if len(args) != 1:
        raise UsageError(f"httpok: expected one URL after the options (got {' '.join(args) or 'none'})")
    values: dict[str, Any] = {"programs": [], "statuses": []}
    for flag, value in opts:
        if flag == "-p":
            values["programs"].append(value)
        elif flag == "-a":
            values["any"] = True
        elif flag == "-t":
            values["timeout"] = seconds(flag, value)
        elif flag == "-c":
            if not value.isdigit():
                raise UsageError(f"-c: expected an HTTP status such as 200 (got {value!r})")
            values["statuses"].append(int(value))
        elif flag == "-b":
            values["inbody"] = value
        elif flag == "-m":
            values["email"] = value
        elif flag == "-s":
            values["sendmail"] = value
        elif flag == "-e":
            values["eager"] = True
        elif flag == "-E":
            values["eager"] = False
        elif flag == "-n":
            values["name"] = value
        elif flag == "-h":
            raise UsageError(HealthWatch.__doc__ or "httpok")
        # -g (gcore) and -d (core directory) are accepted for compatibility; no core is written
    if not values["programs"] and not values.get("any"):
        raise UsageError("httpok: expected -p PROGRAM (a process, group or group:name) or -a")
    return HealthWatch(url=args[0], **{**values, "programs": tuple(values["programs"]),
                                       "statuses": tuple(values["statuses"]) or (200,)})


@dataclass
class Verdicts:
    """Consecutive failures per URL: a restart needs `needed` in a row."""

    needed: int = 2
    failures: dict[str, int] = field(default_factory=dict)

    def record(self, url: str, failed: bool) -> bool:
        """Count one check; True when the URL has now failed `needed` times in a row."""
        self.failures[url] = self.failures.get(url, 0) + 1 if failed else 0
        return self.failures[url] >= self.needed

    def reset(self, url: str) -> None:
        self.failures[url] = 0


def in_grace(processes: list[Process], grace: float) -> bool:
    """True while any of them started less than `grace` seconds ago."""
    return any(p.start and p.uptime < grace for p in processes)


def still_starting(process: Process, answered_since: float | None, grace: float) -> bool:
    """Not to be judged yet: it has not answered since this start, and its grace is not over.

    answered_since: the start time of the process that last answered (None: never seen answering).
    """
    return answered_since != process.start and bool(process.start) and process.uptime < grace


def out_of_rotation(status: str) -> bool:
    """An haproxy server state an operator or a restart set: drained or in maintenance."""
    return status.startswith(("DRAIN", "MAINT", "NOLB"))

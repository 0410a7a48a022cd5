"""The supervisor part's options, read into the model (collective.recipe.supervisor's names)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sitestack.recipes import convert
from sitestack.recipes.address import WILDCARDS, Address
from sitestack.recipes.errors import Invalid
from sitestack.recipes.options import OptionReader
from sitestack.recipes.supervisor_model import Control, Supervisord, _events, check_value

SECTIONS = ("global", "ctl", "http", "rpc", "services")
LOGLEVELS = ("critical", "error", "warn", "info", "debug", "trace", "blather")
UNIX_PATH_MAX = 107
CONTROL_USER = "sitestack"


def _loglevel(text: str) -> str:
    value = text.strip().lower()
    if value not in LOGLEVELS:
        raise Invalid("expected one of " + ", ".join(LOGLEVELS))
    return value


def _socket_path(text: str) -> str:
    value = check_value(text)
    if len(os.fsencode(value)) > UNIX_PATH_MAX:
        raise Invalid(f"a unix socket path must be at most {UNIX_PATH_MAX} bytes long")
    return value


def _inet_port(text: str) -> Address:
    """supervisor's port option: '9001' (loopback), '*:9001' or ':9001' (every address), or host:9001."""
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host in ("", "*"):
        host = "0.0.0.0"
    else:
        host = convert.host(host)
    return Address(host, convert.port(port))


def read_supervisord(reader: OptionReader, var: Path, running_as_root: bool) -> Supervisord:
    """The [supervisord] section from logfile, pidfile, childlogdir, ... options."""
    environment = reader.get("supervisord-environment", check_value, "")
    env_path = reader.get("env-path", check_value, "")
    if env_path:
        environment = ",".join(filter(None, [environment, f'PATH="{env_path}"']))
    user = reader.get("supervisord-user", convert.name, "")
    if not user and running_as_root:
        # Say it explicitly: supervisord logs a CRIT line when it runs as root by default.
        user = "root"
    return Supervisord(
        logfile=reader.get("logfile", check_value, str(var / "log" / "supervisord.log")),
        pidfile=reader.get("pidfile", check_value, str(var / "supervisord.pid")),
        childlogdir=reader.get("childlogdir", check_value, str(var / "log")),
        logfile_maxbytes=convert.format_size(reader.get("logfile-maxbytes", convert.byte_size, 50 * 1024**2)),
        logfile_backups=reader.get("logfile-backups", lambda t: convert.integer(t, 0), 10),
        loglevel=reader.get("loglevel", _loglevel, "info"),
        umask=f"{reader.get('umask', convert.octal_mode, 0o022):03o}",
        nodaemon=reader.get("nodaemon", convert.boolean, False),
        nocleanup=reader.get("nocleanup", convert.boolean, False),
        user=user,
        directory=reader.get("supervisord-directory", check_value, ""),
        environment=environment,
    )


def read_control(reader: OptionReader, var: Path) -> tuple[Control, bool]:
    """The control server; returns (control, password_needed) — a missing password is generated."""
    kind = reader.get("http-socket", _socket_kind, "inet" if reader.has("port") else "unix")
    username = reader.get("user", convert.name, CONTROL_USER)
    password = reader.get("password", check_value, "")
    if kind == "unix":
        file = reader.get("file", _socket_path, _socket_path(str(var / "supervisor.sock")))
        control = Control(
            kind="unix",
            file=file,
            chmod=f"0{reader.get('chmod', convert.octal_mode, 0o700):03o}",
            chown=reader.get("chown", check_value, ""),
            username=username,
            password=password,
            serverurl=reader.get("serverurl", check_value, f"unix://{file}"),
        )
    else:
        port = reader.get("port", _inet_port, Address("127.0.0.1", 9001))
        if not port.is_loopback and not password:
            reader.problem("port", "a control port on a non-loopback address needs a password "
                           "(set password, or bind 127.0.0.1)", reader.raw("port").strip())
        reach = Address("127.0.0.1", port.port) if port.host in WILDCARDS else port
        control = Control(
            kind="inet",
            port=port,
            username=username,
            password=password,
            serverurl=reader.get("serverurl", check_value, f"http://{reach}"),
        )
    return control, not password


def _socket_kind(text: str) -> str:
    value = text.strip()
    if value not in ("unix", "inet"):
        raise Invalid("expected unix or inet")
    return value


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def words(text: str) -> list[str]:
    return text.split()


def lines(options: Mapping[str, str], option: str) -> list[str]:
    return [line.strip() for line in options.get(option, "").splitlines() if line.strip()]


@dataclass(frozen=True)
class WatchdogOptions:
    """How the default watchdog runs: its events, httpok's timeout, the e-mail, the start grace."""

    events: str = "TICK_5"
    timeout: int = 2
    email: str = ""
    grace: int | None = None


def read_watchdog(reader: OptionReader) -> WatchdogOptions:
    return WatchdogOptions(
        # TICK_5 and a short timeout: a hung client is confirmed and restarted within seconds
        events=reader.get("listener-events", _events, "TICK_5"),
        timeout=reader.get("httpok-timeout", lambda t: convert.integer(t, 1, 3600), 2),
        email=reader.get("memmon-email", convert.email, ""),
        # seconds after a start before the watchdog judges a program that has not answered yet
        # (a part's start-timeout wins for its programs)
        grace=reader.get("watchdog-grace", lambda t: convert.integer(t, 0, 86400), None),
    )


def read_sections(reader: OptionReader) -> tuple[str, list[str]]:
    """(mode, the sections supervisord.conf holds). conf.d: a fragment for an existing supervisord
    (programs, groups, listeners), no bin/supervisord."""
    sections = reader.get("sections", _sections, list(SECTIONS))
    mode = reader.get("mode", _mode, "supervisord")
    return mode, (_confd_sections(reader) if mode == "conf.d" else sections)


def _sections(text: str) -> list[str]:
    names = text.split()
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise Invalid(f"unknown section {unknown[0]!r}; expected some of " + " ".join(SECTIONS))
    return names


def _mode(text: str) -> str:
    value = text.strip()
    if value not in ("supervisord", "conf.d"):
        raise Invalid("expected supervisord (bin/supervisord runs the site) or conf.d (a file for an "
                      "existing supervisord's include directory)")
    return value


def _confd_sections(reader: OptionReader) -> list[str]:
    """conf.d mode writes the services only: an included file must not hold [supervisord] and friends."""
    for option in ("sections", "include"):
        if reader.has(option):
            reader.problem(option, "mode = conf.d writes programs, groups and listeners only; leave it out",
                           reader.raw(option).strip())
    return ["services"]

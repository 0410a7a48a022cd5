"""The supervisor part's options, read into the model (collective.recipe.supervisor's names)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from recipes import convert
from recipes.errors import Invalid
from recipes.options import OptionReader
from recipes.supervisor_model import Control, Supervisord, check_value

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


def _inet_port(text: str) -> str:
    """'9001' or 'host:9001' -> 'host:9001', loopback unless a host is given."""
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host in ("", "*"):
        host = "0.0.0.0"
    else:
        host = convert.host(host)
    number = convert.port(port)
    return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"


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
        port = reader.get("port", _inet_port, "127.0.0.1:9001")
        host = port.rpartition(":")[0]
        if not convert.is_loopback(host) and not password:
            reader.problem("port", "a control port on a non-loopback address needs a password "
                           "(set password, or bind 127.0.0.1)", reader.raw("port").strip())
        url_host = "127.0.0.1" if host in ("0.0.0.0", "[::]") else host
        control = Control(
            kind="inet",
            port=port,
            username=username,
            password=password,
            serverurl=reader.get("serverurl", check_value, f"http://{url_host}:{port.rpartition(':')[2]}"),
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

"""The security defaults hold: a private control socket, a control port with a password on
loopback, secrets 0600, HTTP servers not run as root, services on loopback."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from sitestack.control.checks import FAIL, OK, WARN, Finding, binary_name
from sitestack.control.checks.supervisord import supervisor_version
from sitestack.recipes.description import ControlServer, Site


def check_security(site: Site) -> Iterator[Finding]:
    server = site.control_server or ControlServer(str(site.supervisord_conf))
    yield from check_control(server)
    yield private(site.supervisord_conf, "supervisord.conf (holds the control password)")
    secrets = [Path(server.password_file)] if server.password_file else []
    secrets += [Path(p.consumer.secret) for p in site.programs if p.consumer and p.consumer.secret]
    for secret in dict.fromkeys(secrets):
        if secret.exists():
            yield private(secret, "secret")
    yield from check_programs(site, server)
    yield supervisor_version()


def check_control(server: ControlServer) -> Iterator[Finding]:
    """supervisord's control server: a unix socket only its user reaches, a port with a password."""
    if server.socket:
        chmod = int(server.socket_mode or "0700", 8)
        what = f"control socket {server.socket}"
        yield Finding(OK, what, f"mode {chmod:04o}") if chmod & 0o077 == 0 else Finding(
            FAIL, what, f"mode {chmod:04o}: other users could control supervisord (expected 0700)")
    if server.port:
        what = f"control port {server.port}"
        if not server.password_file:
            yield Finding(FAIL, what, "no password: anyone who reaches it controls every program")
        elif not server.port.is_loopback:
            yield Finding(WARN, what, "reachable beyond loopback (password set)")
        else:
            yield Finding(OK, what, "loopback, with a password")


def check_programs(site: Site, server: ControlServer) -> Iterator[Finding]:
    """No HTTP server runs as root; every service on loopback, or a warning."""
    # supervisord's user: the one it switches to, else whoever starts it (root, when the build ran as root)
    user = server.supervisord_user or ("root" if os.geteuid() == 0 else "")
    root = bool(server.pidfile) and user == "root"
    seen: set[str] = set()
    for program in site.programs:
        if program.section in seen:
            continue
        seen.add(program.section)
        if (root and program.health_url and program.user in ("", "root")
                and binary_name(program.command) != "varnishd"):
            yield Finding(FAIL, f"{program.section}: user", "serves HTTP and runs as root (set [site] user)")
        if program.address and not program.address.is_loopback:
            yield Finding(WARN, f"{program.section}: {program.address}", "listens beyond loopback")


def private(path: Path, what: str) -> Finding:
    try:
        bits = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        return Finding(FAIL, f"{what} {path}", str(error))
    if bits & 0o077:
        return Finding(FAIL, f"{what} {path}", f"mode {bits:04o}; expected 0600")
    return Finding(OK, f"{what} {path}", f"mode {bits:04o}")

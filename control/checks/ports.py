"""Every port the site listens on is free, or held by this site's running supervisord."""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

from sitestack.control import processes
from sitestack.control.checks import FAIL, OK, Finding
from sitestack.recipes.address import Address
from sitestack.recipes.description import Site


def site_addresses(site: Site) -> dict[Address, str]:
    """address -> who listens there: programs, admin interfaces, supervisord's control port."""
    addresses = {p.address: p.section for p in site.programs if p.address}
    for program in site.programs:
        if program.consumer and program.consumer.admin:
            addresses[program.consumer.admin] = f"{program.section} admin"
    if site.control_server and site.control_server.port:
        addresses[site.control_server.port] = "supervisord"
    return addresses


def port_free(address: Address) -> bool:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address.host, address.port))
        except OSError:
            return False
    return True


def cmdline(pid: int) -> str:
    return (processes.cmdline(pid) or "?")[:80]


def supervisord_pid(site: Site) -> int | None:
    """The running supervisord of this site, from the pidfile site.json names."""
    pidfile = site.control_server.pidfile if site.control_server else ""
    if not pidfile:
        return None
    try:
        pid = int(Path(pidfile).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def check_ports(addresses: dict[Address, str], stack_pid: int | None) -> Iterator[Finding]:
    for address, owner in sorted(addresses.items(), key=lambda item: item[1]):
        what = f"port {address} ({owner})"
        if port_free(address):
            yield Finding(OK, what, "free")
            continue
        pids = processes.listening_pids(address.port)
        if stack_pid and pids and all(stack_pid in processes.ancestors(pid) for pid in pids):
            yield Finding(OK, what, "held by this site's running stack")
        else:
            others = ", ".join(f"pid {p} ({cmdline(p)})" for p in sorted(pids)) or "another user's process"
            yield Finding(FAIL, what, f"in use by {others}")

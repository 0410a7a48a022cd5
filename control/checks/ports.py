"""Every port the site listens on is free, or held by this site's running supervisord."""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

from control.checks import FAIL, OK, Finding
from recipes.description import Site


def site_addresses(site: Site) -> dict[str, str]:
    """host:port -> who listens there: programs, admin interfaces, supervisord's control port."""
    addresses = {p.address: p.section for p in site.programs if p.address}
    for program in site.programs:
        if program.consumer and program.consumer.admin:
            addresses[program.consumer.admin] = f"{program.section} admin"
    if site.control_server and site.control_server.port:
        addresses[site.control_server.port] = "supervisord"
    return addresses


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listeners(port: int) -> set[int]:
    """Inodes of the sockets listening on port (any address)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def holders(inodes: set[int]) -> set[int]:
    """PIDs holding any of these socket inodes."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                    pids.add(int(entry.name))
                    break
        except OSError:
            continue
    return pids


def ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:80]
    except OSError:
        return "?"


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


def check_ports(addresses: dict[str, str], stack_pid: int | None) -> Iterator[Finding]:
    for address, owner in sorted(addresses.items(), key=lambda item: item[1]):
        host, port = split_address(address)
        what = f"port {address} ({owner})"
        if port_free(host, port):
            yield Finding(OK, what, "free")
            continue
        pids = holders(listeners(port))
        if stack_pid and pids and all(stack_pid in ancestors(pid) for pid in pids):
            yield Finding(OK, what, "held by this site's running stack")
        else:
            others = ", ".join(f"pid {p} ({cmdline(p)})" for p in sorted(pids)) or "another user's process"
            yield Finding(FAIL, what, f"in use by {others}")

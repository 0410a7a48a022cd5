"""Every question sitestack asks about this machine's processes and sockets, answered by psutil.

Nothing else in sitestack reads /proc: the watchdog's memory figures, the restart's "is it
stopped (SIGSTOP)", reload's "when did it start", check's "who holds this port", the exporter's
process-tree memory and ZEO connections, the tests' and benchmarks' process trees all come from
here. A process that is gone (or not ours to read) gives the neutral answer each function names,
never an exception.
"""
from __future__ import annotations

import os
import time

import psutil

GONE = (psutil.NoSuchProcess, psutil.AccessDenied)  # NoSuchProcess covers a zombie too


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie does)."""
    return psutil.pid_exists(pid)


def living(pid: int) -> bool:
    """Whether the process exists and has not exited: a zombie (exited, not yet reaped) counts as gone."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def send_signal(pid: int, signum: int) -> None:
    """Send a signal; a process that is gone (or not ours) is left alone."""
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stopped(pid: int) -> bool:
    """True for a process stopped by SIGSTOP (or a tracer); False for any other or a gone one."""
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except GONE:
        return False


def state(pid: int) -> str:
    """psutil's name of the process's state ('running', 'sleeping', 'stopped', 'zombie', ...); '' when gone."""
    try:
        return str(psutil.Process(pid).status())
    except GONE:
        return ""


def started_at(pid: int) -> float | None:
    """When a process started (epoch seconds, to the clock tick); None when it is gone.

    psutil's create_time adds the kernel's boot time, which Linux gives in whole seconds, so it can
    be up to a second early: a process started right after bin/buildout recorded its digests would
    seem older than them. The process's own start is exact (clock ticks since boot); the boot
    moment is taken here from the boot-time clock instead."""
    try:
        since_boot = psutil.Process(pid).create_time() - psutil.boot_time()
    except GONE:
        return None
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME) + since_boot


def cmdline(pid: int) -> str:
    """The process's command line, words joined by spaces; '' when gone or not ours to read."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except GONE:
        return ""


def uids(pid: int) -> tuple[int, int] | None:
    """(real, effective) user id of the process; None when it is gone."""
    try:
        ids = psutil.Process(pid).uids()
    except GONE:
        return None
    return int(ids.real), int(ids.effective)


def environ(pid: int) -> dict[str, str]:
    """The environment the process started with; {} when gone or not ours to read."""
    try:
        return dict(psutil.Process(pid).environ())
    except GONE:
        return {}


def pids() -> list[int]:
    """Every process on the machine."""
    return list(psutil.pids())


def parent(pid: int) -> int:
    """The parent's pid; 0 when the process is gone."""
    try:
        return int(psutil.Process(pid).ppid())
    except GONE:
        return 0


def ancestors(pid: int) -> set[int]:
    """The process and every process above it, up to (not including) init."""
    found = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        pid = parent(pid)
    return found


def children_by_parent() -> dict[int, list[int]]:
    """{pid: [its children]} over the whole machine, in one pass."""
    children: dict[int, list[int]] = {}
    for process in psutil.process_iter(["ppid"]):
        children.setdefault(int(process.info["ppid"] or 0), []).append(process.pid)
    return children


def descendants(pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """Every process below pid (children, grandchildren, ...), parents before their children."""
    children = children_by_parent() if children is None else children
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss(pid: int) -> int | None:
    """Resident memory of one process in bytes; None when it is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except GONE:
        return None


def tree_rss(pids: list[int], cumulative: bool = True) -> dict[int, int]:
    """Resident memory in bytes of each process (cumulative: plus all its descendants'), in one pass.

    A process that is gone has no entry; a descendant that went meanwhile counts as nothing.
    """
    children = children_by_parent() if cumulative else {}
    sizes = {}
    for pid in pids:
        own = rss(pid)
        if own is not None:
            sizes[pid] = own + sum(rss(child) or 0 for child in descendants(pid, children))
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes (those still there), in seconds."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except GONE:
            continue
        total += times.user + times.system
    return total


def listening_pids(port: int) -> set[int]:
    """The pids of the processes listening on this TCP port (any address, IPv4 or IPv6) that we may see."""
    return {c.pid for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid}


def listening_addresses(pid: int | None = None) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket (of one process, or of the whole machine)."""
    try:
        connections = psutil.Process(pid).net_connections("tcp") if pid else psutil.net_connections("tcp")
    except GONE:
        return set()
    return {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN and c.laddr}


def established_on(pid: int, port: int) -> int | None:
    """How many established TCP connections the process has on its local port; None when gone."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except GONE:
        return None
    return sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def load_average() -> tuple[float, float, float]:
    """The machine's load average over 1, 5 and 15 minutes."""
    one, five, fifteen = psutil.getloadavg()
    return one, five, fifteen

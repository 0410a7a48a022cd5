"""Applying a changed front config without a restart: haproxy's seamless reload, varnish's vcl.load.

haproxy runs as a master (supervisor's process) with one worker: SIGUSR2 to the master makes it
start a new worker on the re-read haproxy.cfg, which takes the listening sockets over from the old
worker (`expose-fd listeners`), while the old one finishes its requests. The file is checked with
`haproxy -c` first, so a broken file never reaches the running haproxy.

varnishd keeps its cache across `vcl.load` + `vcl.use` on its admin port (varnishadm with the
secret): a cached object keeps its age. Older sitestack VCLs are discarded once they are cold.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitestack.control import processes
from sitestack.control.haproxy_runtime import RuntimeSocket

VCL_PREFIX = "sitestack_"


class FrontError(Exception):
    """A front reload that did not happen; the message says why."""


def kind_of(command: str) -> str | None:
    """'haproxy' or 'varnishd' for a command that runs one of them, else None."""
    words = shlex.split(command)
    name = Path(words[0]).name if words else ""
    return name if name in ("haproxy", "varnishd") else None


def flag(words: list[str], name: str) -> str:
    """The value after `name` in a command line."""
    try:
        return words[words.index(name) + 1]
    except (ValueError, IndexError):
        raise FrontError(f"the command has no {name} option: {shlex.join(words)}") from None


def run(command: list[str], timeout: float = 60.0) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise FrontError(f"{shlex.join(command)} exited {result.returncode}: {output[-2000:]}")
    return output


def worker_pid(socket_path: str) -> int | None:
    """The PID of the haproxy worker that answers on the stats socket now."""
    try:
        info = RuntimeSocket(socket_path, "", timeout=2.0).command("show info")
    except OSError:
        return None
    match = re.search(r"^Pid: (\d+)$", info, re.MULTILINE)
    return int(match.group(1)) if match else None


def reload_haproxy(rpc: Any, namespec: str, command: str, socket_path: str, timeout: float = 20.0) -> str:
    """Check haproxy.cfg, then SIGUSR2 to the master; returns once a new worker answers."""
    words = shlex.split(command)
    run([words[0], "-c", "-q", "-f", flag(words, "-f")])
    old = worker_pid(socket_path)
    rpc.supervisor.signalProcess(namespec, "USR2")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = worker_pid(socket_path)
        if new is not None and new != old:
            return f"haproxy reloaded seamlessly (worker {old} -> {new})"
        time.sleep(0.1)
    master = rpc.supervisor.getProcessInfo(namespec)["pid"]
    raise FrontError(f"no new haproxy worker within {timeout:g}s of SIGUSR2 (worker still {old}; "
                     f"the master's processes now: {processes_of(master)})")


def processes_of(pid: int) -> str:
    """The command lines of a process's children (what a failed reload left behind)."""
    lines = [f"{child}: {processes.cmdline(child)}" for child in sorted(processes.descendants(pid))]
    return "; ".join(lines) or "none"


def varnishadm(varnishd: str) -> str:
    """varnishadm from the same installation as varnishd (or on PATH)."""
    for candidate in (Path(varnishd).with_name("varnishadm"), Path(varnishd).parent.parent / "bin" / "varnishadm"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("varnishadm")
    if not found:
        raise FrontError("varnishadm not found (it comes with varnish); cannot load the changed VCL")
    return found


def reload_varnish(command: str, now: Callable[[], float] = time.time) -> str:
    """vcl.load the VCL file under a new name, vcl.use it, discard older cold sitestack VCLs."""
    words = shlex.split(command)
    admin = [varnishadm(words[0]), "-T", flag(words, "-T"), "-S", flag(words, "-S")]
    name = f"{VCL_PREFIX}{now():.3f}".replace(".", "_")
    run(admin + ["vcl.load", name, flag(words, "-f")])
    run(admin + ["vcl.use", name])
    for line in run(admin + ["vcl.list"]).splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "available" and fields[-1].startswith(VCL_PREFIX + "") \
                and fields[-1] != name:
            subprocess.run(admin + ["vcl.discard", fields[-1]], capture_output=True, timeout=30)
    return f"varnish uses the changed VCL as {name} (cache kept)"

"""The faults benchmarks/run.py puts under the mixed load: the e2e tests' faults, one after another.

Each entry takes (site, stack) and returns benchmarks.underload.Result; the project root must be on
sys.path (run.py puts it there).
"""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from benchmarks.loopback import http_get, poll_for
from benchmarks.site import pid_of, serving
from benchmarks.underload import Result, running_pid, signal_pid, under_load
from sitestack.control.processes import descendants

CLIENT1, CLIENT2 = "zeo-clients:client1", "zeo-clients:client2"


def replaced_and_serving(site: Any, stack: Any, namespec: str, old: int) -> Callable[[], bool]:
    return lambda: pid_of(stack, namespec) not in (0, old) and serving(site, stack)


def process_fault(namespec: str, what: str, signum: int) -> Callable[[Any, Any], Result]:
    def run(site: Any, stack: Any) -> Result:
        old = running_pid(stack, namespec)
        try:
            return under_load(site.front, what, lambda load: signal_pid(old, signum),
                              replaced_and_serving(site, stack, namespec, old))
        finally:
            if signum == signal.SIGSTOP:
                try:
                    os.kill(old, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            stack.descendants()
    return run


def memory(site: Any, stack: Any) -> Result:
    old = pid_of(stack, CLIENT1)
    grow = lambda load: http_get(f"http://127.0.0.1:{site.ports.client(1)}/_test/grow?mb=160", timeout=30)  # noqa: E731
    return under_load(site.front, "memory quota", grow, replaced_and_serving(site, stack, CLIENT1, old))


def command(site: Any, *words: str) -> None:
    """Run one of the site's bin/ scripts; one that fails raises with what it said."""
    result = subprocess.run([str(site.path / "bin" / words[0]), *words[1:]], cwd=site.path, capture_output=True,
                            text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"bin/{' '.join(words)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def rolling(site: Any, stack: Any) -> Result:
    return under_load(site.front, "rolling restart", lambda load: command(site, "sitestack", "rolling-restart"),
                      lambda: serving(site, stack))


def zeo(site: Any, stack: Any) -> Result:
    rpc, old = stack.rpc(), pid_of(stack, "zeo-cluster:zeoserver")

    def restart(load: Any) -> None:
        rpc.supervisor.stopProcess("zeo-cluster:zeoserver")
        rpc.supervisor.startProcess("zeo-cluster:zeoserver")

    return under_load(site.front, "ZEO server restart", restart,
                      replaced_and_serving(site, stack, "zeo-cluster:zeoserver", old))


def reload_after(extra: str, what: str) -> Callable[[Any, Any], Result]:
    def run(site: Any, stack: Any) -> Result:
        config = site.path / "buildout.cfg"
        config.write_text(config.read_text() + "\n" + extra)
        command(site, "buildout")
        return under_load(site.front, what, lambda load: command(site, "sitestack", "reload"),
                          lambda: serving(site, stack))
    return run


def varnish_child(site: Any, stack: Any) -> Result:
    manager = pid_of(stack, "front:varnish")
    children = sorted(descendants(manager))
    stack.seen_pids.update(children)
    kill = lambda load: signal_pid(children[-1], signal.SIGKILL)  # noqa: E731
    return under_load(site.front, "kill -9 of varnish's cache process", kill,
                      lambda: bool(set(descendants(manager)) - set(children)) and serving(site, stack))


def no_fault(site: Any, stack: Any) -> Result:
    poll_for(lambda: serving(site, stack), 60, "the stack serving")
    return under_load(site.front, "concurrent writers, no fault", lambda load: load.wait_for(100),
                      lambda: True)


FAULTS: dict[str, Callable[[Any, Any], Result]] = {
    "none": no_fault,
    "kill": process_fault(CLIENT1, "kill -9 of a client", signal.SIGKILL),
    "stop": process_fault(CLIENT2, "SIGSTOP of a client", signal.SIGSTOP),
    "memory": memory,
    "rolling": rolling,
    "client_option": reload_after("[clients]\nclient2-threads = 3\n", "reload after client2's option change"),
    "haproxy_option": reload_after("[haproxy]\ntimeout-queue = 29s\n", "haproxy option change"),
    "vcl": reload_after("[varnish]\nwindow = 4\n", "VCL change"),
    "haproxy_kill": process_fault("front:haproxy", "kill -9 of haproxy", signal.SIGKILL),
    "varnish_child": varnish_child,
    "worker_kill": process_fault("workers:worker_00", "kill -9 of a worker", signal.SIGKILL),
    "zeo": zeo,
}
# Only for a site with the edge (profiles/edge.cfg): nothing in front of it can replay what it held.
EDGE_FAULTS: dict[str, Callable[[Any, Any], Result]] = {
    "edge_kill": process_fault("front:edge", "kill -9 of the edge", signal.SIGKILL),
}

"""The one restart routine: every restart of an app client goes through `restart_client`.

    result = restart_client(site, "client1", "memory 912MB > 800MB")

takes the client out of rotation through the site's `Drain` (sitestack.control.drain: drain, wait for its
in-flight requests, maint), restarts it through supervisor, waits until its health URL answers
200, requests the warm-up paths (by default the page its health URL belongs to), puts it back and
waits until the balancer reports it UP with its slow start over. A client without a health URL is
put back DOWN and counts as answering once haproxy's own check brings it UP. While a restart works
on a client, var/restarting.json says so (sitestack.control.underway): the watchdog leaves it alone. The
memory and health listeners (listeners/), `bin/sitestack rolling-restart` and reloads all call it, so the rules
hold for every cause: at most `Policy.max_out` clients out of rotation at once and never the
last one in rotation; automatic restarts spend a budget per client per hour, after which they
alert instead of restarting. A program that is no balancer server (a worker, a numprocs pool
member `group:name_00`) is restarted the same way without the balancer steps.

The decisions are pure functions (sitestack.control.restart_policy's `refusal`,
sitestack.control.restart_log's `over_budget`); the I/O is in
the `Drain` (sitestack.control.drain, over sitestack.control.haproxy_runtime), supervisor's XML-RPC, the restart log
and lock (sitestack.control.restart_log) and the process questions (sitestack.control.processes).
"""
from __future__ import annotations

import signal
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from sitestack.control import http_answer, processes
from sitestack.control.agent_drain import agent_clients
from sitestack.control.counters import RestartCounts, cause_of
from sitestack.control.drain import Drain, DrainError, drain_for
# kept importable from here for callers written before the split (sitestack.control.haproxy_runtime is their home)
from sitestack.control.haproxy_runtime import RuntimeSocket, ServerState
from sitestack.control.ready import warmup_paths
from sitestack.control.restart_log import RestartLog, over_budget, site_lock
from sitestack.control.restart_policy import Policy, RestartError, RestartResult, refusal
from sitestack.control.site import Site, SiteProgram
from sitestack.control.underway import UnderWay

__all__ = ["Policy", "RestartError", "RestartResult", "RuntimeSocket", "ServerState", "refusal", "restart_client"]

Progress = Callable[[str], None]


# ---- the routine ----------------------------------------------------------------------------

class Restart:
    """One restart in steps; `run` does them in order and always puts the server back."""

    def __init__(self, site: Site, namespec: str, program: SiteProgram | None, reason: str, policy: Policy,
                 rpc: Any, balancer: Drain | None, progress: Progress, hung: bool, cause: str = "",
                 expect_pid: int = 0, before_start: Callable[[], None] | None = None) -> None:
        self.site, self.namespec, self.program, self.reason = site, namespec, program, reason
        self.policy, self.rpc, self.progress, self.hung = policy, rpc, progress, hung
        # haproxy's servers, or on an app host of several the clients its agent answers for
        names = site.balancer.servers if site.balancer else agent_clients(site)
        balanced = bool(program and balancer and program.name in names)
        # the balancer steps happen only for a server of the site's backend
        self.balancer = balancer if balanced else None
        self.server = program.name if program and balanced else ""
        self.expect_pid, self.before_start = expect_pid, before_start
        self.url = program.health_url if program else ""
        self.start_timeout = (program.start_timeout if program else 0) or policy.start_timeout
        self.deadline = time.monotonic() + self.start_timeout
        self.underway = UnderWay(site.directory / "var")
        self.started = time.monotonic()
        self.result = RestartResult(namespec, reason, "failed", cause=cause or cause_of(reason))

    def mark(self, step: str) -> None:
        self.result.timings[step] = round(time.monotonic() - self.started, 2)

    def run(self) -> RestartResult:
        log = RestartLog(self.site.directory / "var" / "restarts.json")
        try:
            return self._run(log)
        except (OSError, DrainError, xmlrpc.client.Fault) as error:
            self.result.message = f"{type(error).__name__}: {error}"
            return self.result
        finally:  # every outcome is counted, for the exporter (var/metrics/restarts.json)
            RestartCounts(self.site.directory).add(self.namespec, self.result.cause, self.result.status)

    def _run(self, log: RestartLog) -> RestartResult:
        with site_lock(self.site.directory):
            if self.policy.automatic and over_budget(log.times(self.namespec), time.time(), self.policy.per_hour):
                self.result.status = "over-budget"
                self.result.message = (f"already restarted {self.policy.per_hour} times in the last hour; "
                                       "not restarting it again (look at its log)")
                return self.result
            why = self.handled_elsewhere() or self.take_turn()
            if why:
                self.result.status, self.result.message = "deferred", why
                return self.result
            if self.policy.automatic:
                log.record(self.namespec, time.time())
            self.underway.begin(self.namespec)
        try:
            self.drain()
            self.stop()
            self.start()
            self.warm_up()
        except (RestartError, DrainError, OSError, xmlrpc.client.Fault) as error:
            self.result.message = str(error)
        else:
            self.result.status = "restarted"
        finally:
            self.put_back()
            with site_lock(self.site.directory):
                self.underway.end(self.namespec)
        return self.result

    def handled_elsewhere(self) -> str | None:
        """Why another restart has this client, or its process changed since the caller judged it."""
        if other := self.underway.by_other(self.namespec):
            return f"a restart by process {other} is handling it"
        if self.expect_pid:
            pid = int(self.rpc.supervisor.getProcessInfo(self.namespec)["pid"])
            if pid != self.expect_pid:
                return f"its process changed since it was judged (pid {self.expect_pid} -> {pid or 'none'})"
        return None

    def take_turn(self) -> str | None:
        """Drain the server if the rules allow (called under the site lock); the refusal if not."""
        if self.balancer is None:
            return None
        deadline = time.monotonic() + self.policy.wait_turn
        while True:
            why = refusal(self.balancer.states(), self.server, self.policy.max_out)
            if why is None:
                self.balancer.drain(self.server)
                self.progress(f"{self.namespec}: draining in haproxy")
                return None
            if time.monotonic() >= deadline:
                return why
            time.sleep(0.5)

    def drain(self) -> None:
        """Wait (bounded) for the server's in-flight requests, then maint: no traffic at all."""
        if self.balancer is None:
            return
        if not self.hung:
            self.balancer.wait_idle(self.server, self.policy.drain_timeout)
        self.balancer.maint(self.server)
        self.mark("out")
        self.progress(f"{self.namespec}: out of rotation after {self.result.timings['out']:.1f}s")

    def stop(self) -> None:
        """Stop through supervisor; a stopped (SIGSTOP) or hung process is killed, not waited for."""
        info = self.rpc.supervisor.getProcessInfo(self.namespec)
        self.result.old_pid = pid = int(info["pid"])
        if info["statename"] in ("RUNNING", "STARTING", "STOPPING") and pid:
            hung = self.hung or processes.stopped(pid)
            if info["statename"] != "STOPPING":
                self.rpc.supervisor.stopProcess(self.namespec, False)
            processes.send_signal(pid, signal.SIGCONT)
            limit = self.policy.hung_stop_timeout if hung else None
            if not self.wait_state(("STOPPED", "EXITED", "FATAL"), limit):
                processes.send_signal(pid, signal.SIGKILL)
                if not self.wait_state(("STOPPED", "EXITED", "FATAL"), 30):
                    raise RestartError(f"supervisor did not stop {self.namespec}")
        self.mark("stopped")

    def wait_state(self, states: tuple[str, ...], timeout: float | None) -> bool:
        """Poll supervisor until the process is in one of states; timeout None: supervisor's own limit."""
        deadline = time.monotonic() + (timeout if timeout is not None else 3600)
        while time.monotonic() < deadline:
            if self.rpc.supervisor.getProcessInfo(self.namespec)["statename"] in states:
                return True
            time.sleep(0.05)
        return False

    def start(self) -> None:
        """Start through supervisor and wait until the health URL answers 200.

        Without a health URL a balanced client waits for haproxy's check (put_back); any other
        program is ready when supervisor says RUNNING.
        """
        if self.before_start is not None:
            self.before_start()  # e.g. reload: the stopped process takes its new configuration
        self.rpc.supervisor.startProcess(self.namespec, False)
        self.deadline = time.monotonic() + self.start_timeout
        what = self.url or "RUNNING"
        while time.monotonic() < self.deadline:
            info = self.rpc.supervisor.getProcessInfo(self.namespec)
            self.result.new_pid = int(info["pid"])
            if info["statename"] in ("FATAL", "STOPPED", "EXITED"):
                raise RestartError(f"{self.namespec} did not start: {info['statename']}")
            if (http_answer.get(self.url, 2.0).status == 200) if self.url else info["statename"] == "RUNNING":
                self.mark("healthy" if self.url else "running")
                self.progress(f"{self.namespec}: {'answering' if self.url else 'RUNNING'} after "
                              f"{time.monotonic() - self.started:.1f}s (pid {self.result.new_pid})")
                return
            time.sleep(0.2)
        raise RestartError(f"{self.namespec} did not answer {what} within {self.start_timeout:.0f}s "
                           "(its part's start-timeout)")

    def warm_up(self) -> None:
        if not (self.program and self.program.address):
            return
        for path in self.policy.warmup or warmup_paths(self.url):
            status = http_answer.get(f"http://{self.program.address}{path}", 60.0, limit=-1).status
            self.progress(f"{self.namespec}: warm-up {path} answered {status or 'nothing'}")

    def wait_fully_up(self, balancer: Drain) -> None:
        """Until haproxy reports the server UP with its slow start over; then the next client may go."""
        limit = time.monotonic() + self.policy.back_timeout if self.url else max(self.deadline, time.monotonic() + 1)
        seen = balancer.wait_ready(self.server, limit - time.monotonic())
        if seen is None:
            if not self.url:
                self.mark("healthy")
            return
        what = "UP with its slow start over" if self.url else "UP (haproxy's check; it has no health URL)"
        raise RestartError(f"haproxy did not report {self.server} {what} in time (last: {seen})")

    def put_back(self) -> None:
        """Back into rotation; haproxy's own checks keep it out if it is still unwell."""
        if self.balancer is None or self.result.status in ("deferred", "over-budget"):
            return
        try:
            # it answers its health URL: UP at once; otherwise (no health URL, or the restart failed)
            # DOWN, so only haproxy's own check brings it back, never traffic to a client still starting
            self.balancer.ready(self.server, answering=self.result.status == "restarted" and bool(self.url))
            if self.result.status == "restarted":
                self.wait_fully_up(self.balancer)
        except (RestartError, DrainError, OSError) as error:
            self.result.status = "failed" if self.result.status == "restarted" else self.result.status
            self.result.message += f"; could not put it back into haproxy: {error}"
            return
        self.mark("back")
        if self.result.status == "restarted":
            self.progress(f"{self.namespec}: back in rotation after {self.result.timings['back']:.1f}s")
        else:
            self.progress(f"{self.namespec}: out of maintenance after {self.result.timings['back']:.1f}s, "
                          "DOWN until haproxy's check finds it answering")


def resolve(site: Site, name: str, rpc: Any) -> tuple[str, SiteProgram | None]:
    """(supervisor namespec, the site's program or None) for a name, group:name or pool member."""
    try:
        program = site.program(name)
        return program.namespec, program
    except KeyError:
        pass
    info = rpc.supervisor.getProcessInfo(name)  # a Fault names what supervisor does not know
    namespec = f"{info['group']}:{info['name']}"
    return namespec, None


def restart_client(site: Site, name: str, reason: str, policy: Policy = Policy(), *, rpc: Any = None,
                   progress: Progress = lambda message: None, hung: bool = False, cause: str = "",
                   expect_pid: int = 0, before_start: Callable[[], None] | None = None) -> RestartResult:
    """Restart one program (client1, zeo-clients:client1, pool:worker_00) without losing a request.

    reason: said in logs and alerts ("memory 900MB > 800MB", "health: timed out", "rolling restart").
    policy: the rules (see Policy); operators pass automatic=False and a wait_turn.
    rpc: supervisord's XML-RPC proxy (default: site.rpc()).
    progress: called with one line per step.
    hung: the client is known not to answer (skip waiting for its requests; kill it if TERM does not work).
    cause: what the restart is counted as (sitestack.control.counters.CAUSES); default: the reason's first word.
    expect_pid: the pid the caller judged; another one now means someone else restarted it (deferred).
    before_start: called between the stop and the start (reload swaps the process's configuration there).
    Returns a RestartResult; it never raises for a restart that could not be done.
    """
    rpc = rpc if rpc is not None else site.rpc()
    namespec, program = resolve(site, name, rpc)
    return Restart(site, namespec, program, reason, policy, rpc, drain_for(site), progress, hung, cause, expect_pid,
                   before_start).run()

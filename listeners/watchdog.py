"""One supervisor event listener for memory quotas and health checks, restarting through sitestack.control.restart.

    sitestack-watchdog [POLICY] [:: memmon MEMMON-ARGS] [:: httpok HTTPOK-ARGS]...
    sitestack-memmon [POLICY] MEMMON-ARGS        (superlance memmon's flags)
    sitestack-httpok [POLICY] HTTPOK-ARGS URL    (superlance httpok's flags)

sitestack-watchdog applies the default rules the supervisor part wrote into site.json (its
`watchdog` section) and any rules on its command line; sitestack-memmon and sitestack-httpok
apply only their command line's. When the build rewrites site.json, the watchdog reads it again
on its next tick (new quotas, URLs, start timeouts); it logs the rules it applies at start-up
and whenever they change, in its own command-line grammar.

POLICY (long options only, before the superlance flags): --site site.json (the bin/ scripts pass it),
--failures N (consecutive failed checks before a restart, default 2), --grace S (seconds after a
start during which a process that has not answered yet is not judged; default site.json's grace,
else 10; a part's start-timeout in site.json wins for its programs), --max-out K, --per-hour N,
--drain-timeout S, --warmup PATH (repeatable), --recheck S (pause between confirming checks, default 1).

On every TICK event it checks every memory rule and every URL; a URL that fails is checked again
(--recheck apart) until it has failed --failures times in a row, so a hung client is confirmed
within one tick. Each process is restarted at most once per tick, by sitestack.control.restart.restart_client.
A program a restart is handling (var/restarting.json) or that haproxy has drained or in
maintenance is left alone: no check, no restart, no alert. Right before a restart the watchdog
reads the process again; one that changed (pid, start) since it was judged is not touched.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sitestack.control import http_answer
from sitestack.control.counters import WatchdogStats
from sitestack.control.drain import drain_for
from sitestack.control.haproxy_runtime import ServerState
from sitestack.control.processes import tree_rss
from sitestack.control.restart import RestartResult, restart_client
from sitestack.control.site import Site
from sitestack.control.underway import UnderWay
from sitestack.listeners.command_line import Settings, parse_command_line
from sitestack.listeners.rules import HealthWatch, Process, UsageError, Verdicts, out_of_rotation, over_quota, still_starting
from sitestack.listeners.ruleset import describe, ruleset

ALERT_EVERY = 3600.0


def memory(pids: list[int], cumulative: bool) -> dict[int, int]:
    """Resident memory in bytes of each process (with -c: plus its descendants'); a gone one has 0."""
    sizes = tree_rss(pids, cumulative)
    return {pid: sizes.get(pid, 0) for pid in pids}


def send_mail(sendmail: str, to: str, subject: str, body: str) -> None:
    message = f"To: {to}\nSubject: {subject}\n\n{body}\n"
    try:
        subprocess.run(sendmail, shell=True, input=message, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"watchdog: cannot send mail with {sendmail!r}: {error}", file=sys.stderr, flush=True)


@dataclass
class Planned:
    process: Process
    reason: str
    hung: bool
    email: str
    sendmail: str
    name: str


class Watchdog:
    """What happens on each tick."""

    def __init__(self, settings: Settings, site: Site, rpc: Any, log: TextIO = sys.stderr, site_text: str = "") -> None:
        self.settings, self.site, self.rpc, self.out = settings, site, rpc, log
        self.site_text = site_text  # site.json as it was read: read again when the build rewrote it
        self.rules = ruleset(settings, site)
        self.verdicts = Verdicts(settings.failures)
        self.alerted: dict[str, float] = {}
        self.answered: dict[str, float] = {}  # namespec -> start time of the process seen answering
        self.servers: dict[str, ServerState] = {}  # haproxy's view, read once per tick
        self.me = os.environ.get("SUPERVISOR_PROCESS_NAME", "")
        self.stats = WatchdogStats(site.directory)  # what it checked, for the exporter

    def log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} watchdog: {message}", file=self.out, flush=True)

    def refresh(self) -> None:
        """Read site.json again when bin/buildout rewrote it: its rules, start timeouts and balancer."""
        try:
            text = Path(self.settings.site).read_text(encoding="utf-8")
            site = Site.loads(text) if text != self.site_text else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            if self.site_text:  # said once, until it can be read again (a re-run of bin/buildout may be under way)
                self.log(f"cannot read {self.settings.site} ({type(error).__name__}: {error}); "
                         "keeping the rules read before")
            self.site_text = ""
            return
        if site is None:
            return
        self.site_text, self.site = text, site
        rules = ruleset(self.settings, site)
        if rules != self.rules:
            self.rules = rules
            self.log(f"rules changed in {self.settings.site}: {describe(rules)}")

    def grace(self, process: Process) -> float:
        """The part's start-timeout for its programs, else --grace (or site.json's grace)."""
        try:
            return self.site.program(process.namespec).start_timeout or self.rules.grace
        except KeyError:
            return self.rules.grace

    def busy(self) -> set[str]:
        """Names and namespecs a restart is handling, or that haproxy has drained or in maintenance."""
        names = UnderWay(self.site.directory / "var").handling()
        self.servers = {}
        if self.site.balancer:
            try:
                self.servers = drain.states() if (drain := drain_for(self.site, 2.0)) else {}
            except OSError:
                pass
            names |= {name for name, state in self.servers.items() if out_of_rotation(state.status)}
        return names

    def answered_since(self, process: Process) -> float | None:
        """The start time of the process last seen answering: by this watchdog, or by haproxy's check
        (its server went UP after this process started)."""
        state = self.servers.get(process.name)
        if state and state.status.startswith("UP") and state.last_change is not None and process.start and \
                state.last_change < process.uptime:
            self.answered[process.namespec] = process.start
        return self.answered.get(process.namespec)

    def tick(self) -> list[RestartResult]:
        self.refresh()
        busy = self.busy()
        processes = [p for p in map(Process.from_info, self.rpc.supervisor.getAllProcessInfo())
                     if not {p.name, p.namespec} & busy]
        planned: dict[str, Planned] = {}
        for rules in self.rules.memory:
            sizes = memory([p.pid for p in processes if p.state == "RUNNING" and p.pid], rules.cumulative)
            self.stats.memory_checks += len(sizes)
            for process, size, quota in over_quota(rules, processes, sizes):
                reason = f"memory {size / 1024**2:.0f}MB > {quota / 1024**2:.0f}MB"
                email = rules.email if rules.mail_about(process) else ""
                planned.setdefault(process.namespec, Planned(process, reason, False, email, rules.sendmail, rules.name))
        for watch in self.rules.health:
            self.judge(watch, processes, planned)
        self.stats.ticks += 1
        self.stats.save()  # before restarting: a scrape sees the failed checks while the restart runs
        return [self.restart(plan) for plan in planned.values()]

    def check(self, watch: HealthWatch) -> str | None:
        """One health check: why it failed or None, timed and counted for the exporter."""
        started = time.monotonic()
        answer = http_answer.get(watch.url, watch.timeout)
        failure = watch.judge(answer.status, answer.body)
        self.stats.check(watch.url, " ".join(watch.programs) or "*").observe(time.monotonic() - started,
                                                                              failure is not None)
        return failure

    def judge(self, watch: HealthWatch, processes: list[Process], planned: dict[str, Planned]) -> None:
        targets = watch.targets(processes, self.me)
        running = [p for p in targets if p.state == "RUNNING"]
        if not targets or (not running and not watch.eager):
            self.verdicts.reset(watch.url)  # no targets: each is busy (a restart has it) or gone
            return
        failure = self.check(watch)
        if failure is None:
            self.answered.update((p.namespec, p.start) for p in running)
        elif any(still_starting(p, self.answered_since(p), self.grace(p)) for p in running) or \
                any(p.state in ("STARTING", "BACKOFF") for p in targets):
            self.verdicts.reset(watch.url)  # starting: judged once it answered, or after its grace
            return
        while failure and not self.verdicts.record(watch.url, True):
            time.sleep(self.settings.recheck)
            failure = self.check(watch)
        if failure is None:
            self.verdicts.reset(watch.url)
            return
        if not running:
            self.alert(watch.url, f"{watch.url}: {failure}, and none of its programs is RUNNING",
                       watch.email, watch.sendmail, watch.name)
            return
        for process in running:
            planned.setdefault(process.namespec, Planned(process, f"health {watch.url}: {failure}",
                                                         failure.startswith("no answer"), watch.email,
                                                         watch.sendmail, watch.name))

    def restart(self, plan: Planned) -> RestartResult:
        now = Process.from_info(self.rpc.supervisor.getProcessInfo(plan.process.namespec))
        if (now.pid, now.start) != (plan.process.pid, plan.process.start) or \
                {now.name, now.namespec} & UnderWay(self.site.directory / "var").handling():
            result = RestartResult(plan.process.namespec, plan.reason, "deferred",
                                   f"left alone: pid {plan.process.pid} -> {now.pid} since it was judged, "
                                   "or a restart is handling it")
            self.log(result.describe())
            return result
        result = restart_client(self.site, plan.process.namespec, plan.reason, self.settings.policy,
                                rpc=self.rpc, hung=plan.hung, progress=self.log, expect_pid=plan.process.pid)
        if result.ok:
            self.verdicts.failures.clear()
            self.log(result.describe())
            if plan.email:
                send_mail(plan.sendmail, plan.email, f"{plan.name}: restarted {plan.process.namespec}",
                          result.describe())
        elif result.status == "deferred":
            self.log(result.describe())
        else:
            self.alert(plan.process.namespec, result.describe(), plan.email, plan.sendmail, plan.name)
        return result

    def alert(self, key: str, message: str, email: str, sendmail: str, name: str) -> None:
        """Log (and mail) a problem a restart does not fix; at most once an hour per key."""
        now = time.monotonic()
        if now - self.alerted.get(key, -ALERT_EVERY) < ALERT_EVERY:
            return
        self.alerted[key] = now
        self.log(f"ALERT {message}")
        if email:
            send_mail(sendmail, email, f"{name}: ALERT {key}", message)


def run_forever(watchdog: Watchdog, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """supervisor's event listener protocol: READY, read an event, act on TICKs, RESULT OK."""
    from supervisor import childutils

    while True:
        headers, _ = childutils.listener.wait(stdin, stdout)
        if headers.get("eventname", "").startswith("TICK"):
            try:
                watchdog.tick()
            except Exception as error:  # noqa: BLE001 - a listener that dies stops watching everything
                watchdog.log(f"tick failed: {type(error).__name__}: {error}")
        childutils.listener.ok(stdout)


def connect(site: Site) -> Any:
    if "SUPERVISOR_SERVER_URL" in os.environ:
        from supervisor import childutils

        return childutils.getRPCInterface(os.environ)
    return site.rpc()


def start(argv: list[str] | None, default: str) -> int:
    try:
        settings = parse_command_line(list(sys.argv[1:] if argv is None else argv), default)
        text = Path(settings.site).read_text(encoding="utf-8")
        site = Site.loads(text)
    except UsageError as error:
        print(f"sitestack-{default or 'watchdog'}: {error}", file=sys.stderr, flush=True)
        return 2
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"sitestack-{default or 'watchdog'}: cannot read the site: {error}", file=sys.stderr, flush=True)
        return 2
    watchdog = Watchdog(settings, site, connect(site), site_text=text)
    origin = f"{settings.site} and its command line" if settings.site_rules else "its command line"
    watchdog.log(f"started; rules from {origin}: {describe(watchdog.rules)}")
    run_forever(watchdog)
    return 0


def main(argv: list[str] | None = None) -> int:
    return start(argv, "")


def memmon(argv: list[str] | None = None) -> int:
    return start(argv, "memmon")


def httpok(argv: list[str] | None = None) -> int:
    return start(argv, "httpok")


watchdog = main  # bin/sitestack-watchdog

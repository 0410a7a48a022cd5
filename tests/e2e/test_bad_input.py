"""A battery of broken buildout.cfg files, each run through the real bin/buildout of a built site
whose stack is running: one clear error line, no traceback, nothing written, nothing restarted."""
from __future__ import annotations

import configparser
import io
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from e2e.site import Stack, run
from support import http_get, poll_for

pytestmark = pytest.mark.e2e

B = "${buildout:bin-directory}"
PARTS = "zeoserver clients haproxy varnish"
# placeholders filled from the site: <haproxy>, <zeoserver>, <clients>, <varnish>, <dir>


@dataclass(frozen=True)
class Case:
    """One broken configuration: what to change, and the section/option/value the error names."""

    id: str
    patch: dict[str, dict[str, str]]
    section: str
    option: str
    value: str
    path: str = ""  # "stub": a failing crontab first on PATH; "bare": no crontab on PATH at all
    extra: dict[str, str] = field(default_factory=dict)
    # a change to buildout.cfg's text after the patch (line endings, a BOM, a line appended)
    raw: Callable[[str], str] | None = None

    def prefix(self) -> str:
        """How the error line starts: `Error: [section] option: `, or `Error: file: ` for the file itself."""
        return f"Error: [{self.section}] {self.option}: " if self.section else f"Error: {self.option}: "


def append(text: str) -> Callable[[str], str]:
    return lambda good: good + text


def program(line: str) -> dict[str, dict[str, str]]:
    return {"supervisor": {"programs": f"{PARTS}\n{line}"}}


def cluster(*lines: str, name: str = "app1", profile: str = "app") -> dict[str, dict[str, str]]:
    """The site as one host of a cluster (profiles/<profile>.cfg, [cluster] hosts, [host] name)."""
    good = ["db 10.77.0.1 db", "app1 10.77.0.2 app", "front 10.77.0.4 front"]
    return {"buildout": {"extends": f"profiles/{profile}.cfg"}, "host": {"name": name},
            "cluster": {"hosts": "\n".join(["", *good, *lines])}}


CASES = [
    # collective.recipe.supervisor lines: malformed, unknown tokens, bad values
    Case("programs-surplus-token", program("10 extra /bin/cat [-u] /tmp true nobody surplus"),
         "supervisor", "programs", "10 extra /bin/cat [-u] /tmp true nobody surplus"),
    Case("programs-unbalanced", program("10 extra /bin/cat [-u"), "supervisor", "programs", "10 extra /bin/cat [-u"),
    Case("programs-unknown-key", program("10 extra (colour=blue) /bin/cat"),
         "supervisor", "programs", "10 extra (colour=blue) /bin/cat"),
    Case("programs-bad-setting", program("10 extra (startsecs=soon) /bin/cat"),
         "supervisor", "programs", "10 extra (startsecs=soon) /bin/cat"),
    Case("programs-priority-too-big", program("1000 extra /bin/cat"), "supervisor", "programs", "1000 extra /bin/cat"),
    Case("programs-bad-name", program("10 ex!tra /bin/cat"), "supervisor", "programs", "10 ex!tra /bin/cat"),
    Case("programs-unknown-part", {"supervisor": {"programs": f"{PARTS} nosuchpart"}},
         "supervisor", "programs", f"{PARTS} nosuchpart"),
    Case("programs-duplicate-name", program("10 client1 /bin/cat"), "supervisor", "programs", "client1"),
    Case("numprocs-without-process-num", program("10 pool (numprocs=2) /bin/cat"), "supervisor", "programs", "pool"),
    Case("numprocs-fixed-process-name", program("10 pool (numprocs=2 process_name=pool) /bin/cat"),
         "supervisor", "programs", "pool"),
    Case("listener-without-command", {"supervisor": {"eventlisteners": "mon TICK_60"}},
         "supervisor", "eventlisteners", "mon TICK_60"),
    Case("listener-bad-events", {"supervisor": {"eventlisteners": "mon tick-60 /bin/cat"}},
         "supervisor", "eventlisteners", "mon tick-60 /bin/cat"),
    Case("listener-surplus-token", {"supervisor": {"eventlisteners": "mon TICK_60 /bin/cat [-x] surplus"}},
         "supervisor", "eventlisteners", "mon TICK_60 /bin/cat [-x] surplus"),
    Case("listener-program-only-key", {"supervisor": {"eventlisteners": "mon (redirect_stderr=true) TICK_60 /bin/cat"}},
         "supervisor", "eventlisteners", "mon (redirect_stderr=true) TICK_60 /bin/cat"),
    # sitestack's client keys in a priority line, start timeouts, the Zope part
    Case("programs-health-path-without-address", program("10 extra (health-url=/ok) /bin/cat"),
         "supervisor", "programs", "10 extra (health-url=/ok) /bin/cat"),
    Case("programs-bad-start-timeout", program("10 extra (start-timeout=soon) /bin/cat"),
         "supervisor", "programs", "10 extra (start-timeout=soon) /bin/cat"),
    Case("programs-one-log-file-for-two", program("10 extra (stdout_logfile=/tmp/x.log) /bin/cat\n"
                                                  "11 extra2 (stdout_logfile=/tmp/x.log) /bin/cat"),
         "supervisor", "programs", "/tmp/x.log"),
    Case("clients-start-timeout-zero", {"clients": {"start-timeout": "0"}}, "clients", "start-timeout", "0"),
    Case("watchdog-grace-word", {"supervisor": {"watchdog-grace": "long"}}, "supervisor", "watchdog-grace", "long"),
    Case("zope-instance-not-zope", {"supervisor": {"programs": f"{PARTS} zope"},
                                    "zope": {"recipe": "sitestack:zope", "instances": "haproxy"}},
         "zope", "instances", "haproxy"),
    Case("zope-unknown-instance", {"supervisor": {"programs": f"{PARTS} zope"},
                                   "zope": {"recipe": "sitestack:zope", "instances": "instance9"}},
         "zope", "instances", "instance9"),
    Case("group-unknown-program", {"supervisor": {"groups": "25 extra nosuch"}}, "supervisor", "groups", "nosuch"),
    Case("group-names-listener", {"supervisor": {"eventlisteners": "mon TICK_60 /bin/cat", "groups": "25 extra mon"}},
         "supervisor", "groups", "mon"),
    Case("group-spaces-in-list", {"supervisor": {"groups": "25 extra client1, client2"}},
         "supervisor", "groups", "25 extra client1, client2"),
    Case("group-without-programs", {"supervisor": {"groups": "25 extra"}}, "supervisor", "groups", "25 extra"),
    # unknown options, with a did-you-mean
    Case("unknown-supervisor-option", {"supervisor": {"prgrams": "x"}}, "supervisor", "prgrams", "x"),
    Case("unknown-haproxy-option", {"haproxy": {"timeout-conect": "2s"}}, "haproxy", "timeout-conect", "2s"),
    Case("unknown-varnish-option", {"varnish": {"storag": "malloc,64m"}}, "varnish", "storag", "malloc,64m"),
    Case("unknown-clients-option", {"clients": {"cuont": "3"}}, "clients", "cuont", "3"),
    Case("unknown-crontab-option", {"crontab": {"tmes": "@reboot"}}, "crontab", "tmes", "@reboot"),
    # sizes, ports, priorities
    Case("size-with-space", {"site": {"memory-quota": "800 M"}}, "clients", "memory-quota", "800 M"),
    Case("size-in-words", {"supervisor": {"logfile-maxbytes": "50 megabytes"}},
         "supervisor", "logfile-maxbytes", "50 megabytes"),
    Case("memmon-bad-size", {"supervisor": {"eventlisteners": f"mem TICK_60 {B}/memmon [-g zeo-clients=lots]"}},
         "supervisor", "eventlisteners", "zeo-clients=lots"),
    Case("port-too-big", {"ports": {"haproxy": "70000"}}, "haproxy", "port", "70000"),
    Case("port-zero", {"ports": {"zeoserver": "0"}}, "zeoserver", "port", "0"),
    Case("client-ports-past-65535", {"ports": {"clients": "65535"}}, "clients", "base-port", "65535"),
    Case("control-port-by-name", {"supervisor": {"port": "127.0.0.1:http"}}, "supervisor", "port", "127.0.0.1:http"),
    Case("priority-negative", {"zeoserver": {"priority": "-1"}}, "zeoserver", "priority", "-1"),
    Case("priority-word", {"clients": {"priority": "high"}}, "clients", "priority", "high"),
    # the same port used by two parts
    Case("zeo-on-haproxy-port", {"ports": {"zeoserver": "<haproxy>"}}, "supervisor", "programs", "127.0.0.1:<haproxy>"),
    Case("varnish-admin-on-haproxy-port", {"ports": {"varnish-admin": "<haproxy>"}},
         "supervisor", "programs", "127.0.0.1:<haproxy>"),
    Case("varnish-on-client-port", {"ports": {"varnish": "<clients>"}}, "supervisor", "programs", "127.0.0.1:<clients>"),
    Case("control-port-on-zeo-port", {"supervisor": {"port": "<zeoserver>"}}, "supervisor", "port", "<zeoserver>"),
    Case("zeo-inside-client-range", {"ports": {"zeoserver": "<clients>"}}, "clients", "base-port", "<clients>"),
    Case("varnish-admin-on-varnish-port", {"ports": {"varnish-admin": "<varnish>"}}, "varnish", "admin-port", "<varnish>"),
    # security
    Case("open-control-port-without-password", {"supervisor": {"port": "0.0.0.0:9001"}},
         "supervisor", "port", "0.0.0.0:9001"),
    Case("star-control-port-without-password", {"supervisor": {"port": "*:9001"}}, "supervisor", "port", "*:9001"),
    Case("memory-quota-unknown-group", {"supervisor": {"eventlisteners": f"mem TICK_60 {B}/memmon [-g nosuch=800MB]"}},
         "supervisor", "eventlisteners", "nosuch=800MB"),
    # the machine: binaries, crontab, directories
    Case("missing-haproxy", {"haproxy": {"binary": "haproxy-not-installed"}}, "haproxy", "binary", "haproxy-not-installed"),
    Case("missing-varnishd", {"varnish": {"binary": "/opt/nowhere/varnishd"}}, "varnish", "binary", "/opt/nowhere/varnishd"),
    Case("missing-crontab", {"crontab": {"read-command": "crontab -l"}}, "crontab", "read-command", "crontab -l",
         path="bare"),
    Case("failing-crontab", {"crontab": {"read-command": "crontab -l"}}, "crontab", "read-command", "crontab -l",
         path="stub"),
    Case("crontab-bad-minute", {"crontab": {"times": "61 * * * *"}}, "crontab", "times", "61 * * * *"),
    Case("unwritable-log-directory", {"supervisor": {"childlogdir": "/proc/sitestack/log"}},
         "supervisor", "childlogdir", "/proc/sitestack/log"),
    Case("blob-dir-under-a-file", {"zeoserver": {"blob-dir": "/etc/hostname/blobs"}},
         "zeoserver", "blob-dir", "/etc/hostname/blobs"),
    # %, ;, #, spaces, non-ASCII
    Case("percent-in-size", {"site": {"memory-quota": "80%"}}, "clients", "memory-quota", "80%"),
    Case("escaped-percent-for-cron", {"crontab": {"command": "/bin/echo 100\\%"}}, "crontab", "command", "/bin/echo 100\\%"),
    Case("semicolon-comment-in-path", {"supervisor": {"logfile": "<dir>/var/log/s.log ;old"}},
         "supervisor", "logfile", "<dir>/var/log/s.log ;old"),
    Case("semicolon-in-cron-command", {"crontab": {"command": "/bin/true; /bin/false"}},
         "crontab", "command", "/bin/true; /bin/false"),
    Case("hash-in-url-path", {"clients": {"health-path": "/health#top"}}, "clients", "health-path", "/health#top"),
    Case("hash-comment-in-email", {"site": {"admin-email": "ops@example.com # ops"}},
         "supervisor", "memmon-email", "ops@example.com # ops"),
    Case("space-in-url-path", {"haproxy": {"monitor-uri": "/haproxy health"}}, "haproxy", "monitor-uri", "/haproxy health"),
    Case("haproxy-threads-zero", {"haproxy": {"threads": "0"}}, "haproxy", "threads", "0"),
    Case("haproxy-request-log-unknown", {"haproxy": {"request-log": "file"}}, "haproxy", "request-log", "file"),
    Case("haproxy-slow-request-no-unit", {"haproxy": {"slow-request": "1"}}, "haproxy", "slow-request", "1"),
    Case("varnish-thread-pools-words", {"varnish": {"thread-pools": "many"}}, "varnish", "thread-pools", "many"),
    Case("space-in-host", {"zeoserver": {"host": "127.0.0.1 127.0.0.2"}}, "zeoserver", "host", "127.0.0.1 127.0.0.2"),
    Case("non-ascii-user", {"supervisor": {"user": "admïn"}}, "supervisor", "user", "admïn"),
    Case("non-ascii-times", {"crontab": {"times": "@rebööt"}}, "crontab", "times", "@rebööt"),
    Case("non-ascii-digits-in-host", {"zeoserver": {"host": "１２７.0.0.1"}}, "zeoserver", "host", "１２７.0.0.1"),
    Case("non-ascii-program-name", program("10 clïent /bin/cat"), "supervisor", "programs", "10 clïent /bin/cat"),
    # other values a hand edit gets wrong
    Case("no-clients", {"site": {"clients": "0"}}, "clients", "count", "0"),
    Case("application-without-callable", {"site": {"application": "demoapp"}}, "clients", "application", "demoapp"),
    Case("loglevel-unknown", {"supervisor": {"loglevel": "loud"}}, "supervisor", "loglevel", "loud"),
    Case("purge-acl-bad-address", {"varnish": {"purge-allow": "10.0.0.300"}}, "varnish", "purge-allow", "10.0.0.300"),
    Case("duration-without-unit", {"haproxy": {"check-interval": "5"}}, "haproxy", "check-interval", "5"),
    Case("unknown-system-user", {"haproxy": {"user": "nosuchuser"}}, "haproxy", "user", "nosuchuser"),
    # the exporter: a wider bind must be asked for, Prometheus durations need their unit
    Case("exporter-open-without-public", {"exporter": {"host": "0.0.0.0"}}, "exporter", "host", "0.0.0.0"),
    Case("exporter-scrape-interval-without-unit", {"exporter": {"scrape-interval": "15"}},
         "exporter", "scrape-interval", "15"),
    Case("exporter-port-taken-by-a-client", {"ports": {"exporter": "<clients>"}}, "supervisor", "programs",
         "127.0.0.1:<clients>"),
    # the balancer names a section that publishes no haproxy backend name (site.json needs it)
    Case("balancer-without-backend", {"supervisor": {"balancer": "lb"}, "lb": {"stats-socket": "<dir>/var/lb.sock"}},
         "supervisor", "balancer", "lb"),
    # backups (recipes/backup.py)
    Case("backup-location-inside-var", {"backup": {"location": "<dir>/var/backups"}},
         "backup", "location", "<dir>/var/backups"),
    Case("backup-location-unwritable", {"backup": {"location": "/proc/sitestack/backups"}},
         "backup", "location", "/proc/sitestack/backups"),
    Case("backup-keep-zero", {"backup": {"keep": "0"}}, "backup", "keep", "0"),
    Case("backup-schedule-not-cron", {"backup": {"full": "every night at 3"}}, "backup", "full", "every night at 3"),
    Case("backup-schedule-at-reboot", {"backup": {"incremental": "@reboot"}}, "backup", "incremental", "@reboot"),
    # zc.buildout's own errors, one line each (bin/buildout runs sitestack.recipes.command)
    Case("missing-extends-file", {"buildout": {"extends": "base.cfg nosuch.cfg"}},
         "buildout", "extends", "nosuch.cfg"),
    Case("ini-syntax-error", {}, "", "buildout.cfg", "this is not ini", raw=append("this is not ini\n")),
    Case("option-before-any-section", {}, "", "buildout.cfg", "clients = 3", raw=lambda good: "clients = 3\n" + good),
    Case("unknown-part", {"buildout": {"parts": f"{PARTS} worker supervisor crontab nosuch"}},
         "buildout", "parts", f"{PARTS} worker supervisor crontab nosuch"),
    Case("misspelt-recipe-entry-point", {"zeoserver": {"recipe": "sitestack:zeoservr"}},
         "zeoserver", "recipe", "sitestack:zeoservr"),
    Case("misspelt-recipe-package", {"zeoserver": {"recipe": "sitestak:zeoserver"}},
         "zeoserver", "recipe", "sitestak:zeoserver"),
    Case("missing-referenced-option", {"zeoserver": {"host": "${hosts:bnid}"}}, "zeoserver", "host", "${hosts:bnid}"),
    Case("missing-referenced-section", {"zeoserver": {"host": "${hostz:bind}"}}, "zeoserver", "host", "${hostz:bind}"),
    Case("duplicate-option", {}, "site", "clients", "3", raw=append("\n[site]\nclients = 3\n")),
    Case("crlf-line-endings", {}, "buildout", "extends", "base.cfg\r", raw=lambda good: good.replace("\n", "\r\n")),
    Case("byte-order-mark", {}, "", "buildout.cfg", "\ufeff[buildout]", raw=lambda good: "\ufeff" + good),
    # values that look valid and could never work
    Case("threads-for-a-client-that-does-not-exist", {"clients": {"client5-threads": "3"}},
         "clients", "client5-threads", "3"),
    Case("client-memory-quota-too-low", {"site": {"memory-quota": "1"}}, "clients", "memory-quota", "1"),
    Case("worker-memory-quota-too-low", {"site": {"worker-memory-quota": "10MB"}}, "worker", "memory-quota", "10MB"),
    Case("application-callable-missing", {"site": {"application": "sitestack.demoapp:nosuch"}},
         "clients", "application", "sitestack.demoapp:nosuch"),
    Case("application-module-missing", {"site": {"application": "nosuchmodule:application"}},
         "clients", "application", "nosuchmodule:application"),
    Case("space-in-site-path", {"buildout": {"parts-directory": "<dir>/my parts"}},
         "buildout", "parts-directory", "<dir>/my parts"),
    Case("non-ascii-site-path", {"buildout": {"bin-directory": "<dir>/bïn"}}, "buildout", "bin-directory", "<dir>/bïn"),
    Case("socket-path-over-107-bytes", {"supervisor": {"file": f"<dir>/var/{'s' * 100}.sock"}},
         "supervisor", "file", f"<dir>/var/{'s' * 100}.sock"),
    Case("numprocs-zero", {"site": {"workers": "0"}}, "worker", "numprocs", "0"),
    Case("lease-zero", {"worker": {"lease": "0"}}, "worker", "lease", "0"),
    Case("check-interval-zero", {"haproxy": {"check-interval": "0s"}}, "haproxy", "check-interval", "0s"),
    # several hosts: the cluster description (cluster.cfg) and the host's name and role profile
    Case("cluster-host-line-without-role", cluster("app2 10.77.0.3"), "cluster", "hosts", "app2 10.77.0.3"),
    Case("cluster-unknown-role", cluster("app2 10.77.0.3 web"), "cluster", "hosts", "app2 10.77.0.3 web"),
    Case("cluster-wildcard-address", cluster("app2 0.0.0.0 app"), "cluster", "hosts", "app2 0.0.0.0 app"),
    Case("cluster-host-name-with-dot", cluster("app.2 10.77.0.3 app"), "cluster", "hosts", "app.2 10.77.0.3 app"),
    Case("cluster-address-twice", cluster("app2 10.77.0.2 app"), "cluster", "hosts", "app2 10.77.0.2 app"),
    Case("cluster-two-db-hosts", cluster("db2 10.77.0.9 db"), "cluster", "hosts", "db db2"),
    Case("cluster-host-not-listed", cluster(name="app7"), "host", "name", "app7"),
    Case("cluster-profile-of-another-role", cluster(profile="front"), "cluster", "role", "front"),
    Case("agent-on-every-address", {"agent": {"host": "0.0.0.0"}}, "agent", "host", "0.0.0.0"),
    Case("agent-inter-without-agent-port", {"haproxy": {"agent-port": "", "agent-inter": "2s"}},
         "haproxy", "agent-inter", "2s"),
]
FAILING_CRONTAB = "#!/bin/sh\necho 'You (root) are not allowed to use this program (crontab)' >&2\nexit 1\n"


def variant(good: str, patch: dict[str, dict[str, str]]) -> str:
    """The good buildout.cfg with some options set (sections added as needed)."""
    parser = configparser.RawConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(good)
    for section, options in patch.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, value)
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def tree(root: Path) -> set[str]:
    """Every path under the site (var/ included), but the environment, Python's byte-code caches and
    varnishd's own work directory (the running varnishd's)."""
    found = set()
    work = str(root / "parts" / "varnish" / "work")
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".venv", "__pycache__") and os.path.join(directory, d) != work]
        found.update(os.path.join(directory, name) for name in dirnames + filenames)
    return found


def snapshot(root: Path) -> dict[str, object]:
    """Every file a good build wrote, with content, mtime and mode (varnishd's own work directory
    aside), what .installed.cfg records, and the names of every path under the site."""
    work = root / "parts" / "varnish" / "work"
    paths = [p for top in ("bin", "parts") for p in sorted((root / top).rglob("*"))
             if p.is_file() and work not in p.parents]
    paths += [root / "crontab.txt", root / "var" / "supervisor" / "control-password", root / "var" / "varnish" / "secret"]
    files: dict[str, object] = {str(p): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in paths}
    files[".installed.cfg"] = installed(root / ".installed.cfg")
    files["paths under the site"] = tree(root)
    return files


def installed(path: Path) -> dict[str, dict[str, str]]:
    """The parts and options .installed.cfg records. (bin/buildout appends an empty
    `[buildout] installed_develop_eggs` to it before it reads any part, a bookkeeping rewrite of
    zc.buildout's own; what it records stays the same.)"""
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    parser.read(path)
    return {name: dict(parser[name]) for name in parser.sections()}


def settled(root: Path) -> Callable[[], bool]:
    """A check that is true once the paths under root have stayed the same for 2 s."""
    seen: list[tuple[float, set[str]]] = []

    def check() -> bool:
        now = tree(root)
        if not seen or seen[-1][1] != now:
            seen.append((time.monotonic(), now))
        return time.monotonic() - seen[-1][0] >= 2.0

    return check


@pytest.fixture(scope="module")
def running(site) -> Iterator[tuple[Stack, dict[str, int]]]:
    """The site's stack, started once for the whole battery; the PIDs it had at the start."""
    stack = Stack(site.path)
    try:
        stack.start()
        infos = poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
        # settled: a page served, and the programs done making their own files (blob caches) in var/
        poll_for(lambda: http_get(f"http://127.0.0.1:{site.ports.varnish}/", timeout=5)[0] == 200, 60,
                 "a page through varnish", stack.explain)
        poll_for(settled(site.path), 60, "no new path under the site for 2 s", stack.explain, interval=0.5)
        yield stack, {f"{i['group']}:{i['name']}": i["pid"] for i in infos}
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    """PATH values: 'stub' puts a failing crontab first, 'bare' has sh and cat but no crontab."""
    top = tmp_path_factory.mktemp("path")
    stub, bare = top / "stub", top / "bare"
    stub.mkdir()
    bare.mkdir()
    (stub / "crontab").write_text(FAILING_CRONTAB)
    (stub / "crontab").chmod(0o755)
    for name in ("sh", "cat"):
        (bare / name).symlink_to(f"/bin/{name}")
    return {"stub": f"{stub}:{os.environ['PATH']}", "bare": str(bare)}


def fill(text: str, site) -> str:
    values = {"haproxy": site.ports.haproxy, "zeoserver": site.ports.zeoserver, "clients": site.ports.clients,
              "varnish": site.ports.varnish, "dir": site.path}
    return re.sub(r"<(\w+)>", lambda m: str(values[m.group(1)]), text)


def test_battery_has_enough_cases():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, site, running, paths):
    stack, pids = running
    config = site.path / "buildout.cfg"
    good = config.read_text()
    before = snapshot(site.path)
    env = dict(os.environ, PATH=paths[case.path]) if case.path else None
    patch = {s: {k: fill(v, site) for k, v in o.items()} for s, o in case.patch.items()}
    text = variant(good, patch)
    text = case.raw(text) if case.raw else text
    try:
        config.write_bytes(text.encode("utf-8"))
        result = run_buildout(site.path, env)
    finally:
        config.write_text(good)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    value = fill(case.value, site)
    errors = [line for line in output.splitlines() if line.startswith("Error:") or re.match(r"\[[^\]]+\] \S+: ", line)]
    assert len(errors) == 1, output
    assert errors[0].startswith(case.prefix()), output
    assert errors[0].endswith(f"(got {value!r})"), output
    if case.option not in ("programs", "groups", "eventlisteners", "port") and "unknown option" in errors[0]:
        assert "did you mean" in errors[0], output
    after = snapshot(site.path)
    changed = sorted(name for name in before if before[name] != after.get(name) and name != "paths under the site")
    assert not changed, changed
    created = sorted(after["paths under the site"] - before["paths under the site"])  # type: ignore[operator]
    assert not created, created
    now = {f"{i['group']}:{i['name']}": i["pid"] for i in stack.rpc().supervisor.getAllProcessInfo()}
    assert now == pids, (pids, now)


def run_buildout(path: Path, env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(path / "bin" / "buildout")], cwd=path, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, env=env)


def test_stack_still_serves_after_the_battery(site, running):
    stack, pids = running
    infos = stack.rpc().supervisor.getAllProcessInfo()
    assert all(i["statename"] == "RUNNING" for i in infos), infos
    assert {f"{i['group']}:{i['name']}": i["pid"] for i in infos} == pids
    # and the good configuration still builds
    assert run([str(site.path / "bin" / "buildout")], site.path).returncode == 0

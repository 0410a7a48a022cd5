"""A battery of broken buildout.cfg files, each run through the real bin/buildout of a built site
whose stack is running: one clear error line, no traceback, nothing written, nothing restarted."""
from __future__ import annotations

import configparser
import io
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from e2e.site import Stack, run
from support import poll_for

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


def program(line: str) -> dict[str, dict[str, str]]:
    return {"supervisor": {"programs": f"{PARTS}\n{line}"}}


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


def snapshot(root: Path) -> dict[str, object]:
    """Every file a good build wrote, with content, mtime and mode (varnishd's own work directory
    aside), and what .installed.cfg records."""
    work = root / "parts" / "varnish" / "work"
    paths = [p for top in ("bin", "parts") for p in sorted((root / top).rglob("*"))
             if p.is_file() and work not in p.parents]
    paths += [root / "crontab.txt", root / "var" / "supervisor" / "control-password", root / "var" / "varnish" / "secret"]
    files: dict[str, object] = {str(p): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in paths}
    files[".installed.cfg"] = installed(root / ".installed.cfg")
    return files


def installed(path: Path) -> dict[str, dict[str, str]]:
    """The parts and options .installed.cfg records. (bin/buildout appends an empty
    `[buildout] installed_develop_eggs` to it before it reads any part, a bookkeeping rewrite of
    zc.buildout's own; what it records stays the same.)"""
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    parser.read(path)
    return {name: dict(parser[name]) for name in parser.sections()}


@pytest.fixture(scope="module")
def running(site) -> Iterator[tuple[Stack, dict[str, int]]]:
    """The site's stack, started once for the whole battery; the PIDs it had at the start."""
    stack = Stack(site.path)
    try:
        stack.start()
        infos = poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
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
    try:
        config.write_text(variant(good, patch))
        result = run_buildout(site.path, env)
    finally:
        config.write_text(good)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    value = fill(case.value, site)
    errors = [line for line in output.splitlines() if re.match(r"(Error: )?\[[^\]]+\] \S+: ", line)]
    assert len(errors) == 1, output
    assert errors[0].startswith(f"Error: [{case.section}] {case.option}: "), output
    assert errors[0].endswith(f"(got {value!r})"), output
    if case.option not in ("programs", "groups", "eventlisteners", "port") and "unknown option" in errors[0]:
        assert "did you mean" in errors[0], output
    after = snapshot(site.path)
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert not changed, changed
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

"""Security defaults of a built site and its running stack, checked on the real processes."""
from __future__ import annotations

import ipaddress
import os
import pwd
import re
import socket
import stat
import subprocess
import uuid
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitestack.control import processes
from e2e.conftest import sibling_site
from e2e.outside import OTHER_USER, accepts, basic, http_status, openable, outside_address, varnish_cli
from e2e.site import Stack
from support import ROOT, free_port, http_get, poll_for

pytestmark = pytest.mark.e2e
# what a default credential looks like (built here so this file does not match itself)
WORDS = ("admin", "root", "user", "guest", "supervisor", "sitestack")
DEFAULTS = re.compile(
    # a user name and itself as password, colon-separated ("/" is left out: parts/supervisor/supervisor.conf is a path)
    r"\b(" + "|".join(WORDS) + r")[ \t]*:[ \t]*\1\b"
    + r"|\bpass(word)?[ \t]*[=:][ \t]*['\"]?(" + "|".join(("admin", "secret", "changeme", "123456", "supervisor",
                                                        "sitestack", "letmein", "root")) + r")\b"
    + r"|\bpass(word)?[ \t]*[=:][ \t]*['\"]pass(word)?['\"]",
    re.IGNORECASE,
)
SKIP_DIRS = {".git", ".venv", "eggs", "develop-eggs", "parts", "bin", "var", "__pycache__", ".pytest_cache",
             ".mypy_cache", ".hypothesis", "node_modules"}


def listening(pid: int) -> set[str]:
    """The local addresses (127.0.0.1:8080, [::1]:8080) of the TCP sockets the process listens on."""
    return {f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip, port in processes.listening_addresses(pid)}


def uids(pid: int) -> tuple[int, int]:
    """(real, effective) uid of a process."""
    found = processes.uids(pid)
    assert found is not None, f"process {pid} is gone"
    return found


def program_pids(stack, name: str) -> set[int]:
    """A supervised program's PID and every process below it."""
    pid = stack.rpc().supervisor.getProcessInfo(name)["pid"]
    below = {p for p in stack.descendants() if pid in ancestry(p)}
    return {pid} | below


def ancestry(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        pid = processes.parent(pid)
        if not pid:
            break
        chain.append(pid)
    return chain


def test_running_stack_is_private_and_unprivileged(site, stack):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)

    # every program that should listen does (RUNNING may come before a client has bound its port)...
    expected = {site.ports.varnish, site.ports.varnish_admin, site.ports.haproxy, site.ports.zeoserver,
                site.ports.client(1), site.ports.client(2), site.ports.exporter}

    def held_addresses() -> set[str] | None:
        pids = stack.descendants() | {stack.pid}
        held = {address for pid in pids for address in listening(pid)}
        return held if expected <= {int(a.rpartition(":")[2]) for a in held} else None

    held = poll_for(held_addresses, 60, f"the stack listening on {sorted(expected)}", stack.explain)
    # ... and nothing listens beyond loopback
    for address in held:
        host = address.rpartition(":")[0].strip("[]")
        assert ipaddress.ip_address(host).is_loopback, f"{address} is not loopback: {sorted(held)}"

    # supervisord is controlled through a unix socket of mode 0700, with a password; no inet port
    conf = (site.path / "parts" / "supervisor" / "supervisord.conf").read_text()
    assert "[inet_http_server]" not in conf and "[unix_http_server]" in conf
    assert stat.S_IMODE(os.stat(stack.serverurl.removeprefix("unix://")).st_mode) == 0o700
    assert stack.password and len(stack.password) >= 20

    # CVE-2017-11610: the dotted-name traversal to os.system is refused, and runs nothing
    marker = Path(f"/tmp/sitestack-cve-{uuid.uuid4().hex}")
    with pytest.raises(xmlrpc.client.Fault) as refused:
        getattr(stack.rpc(), "supervisor.supervisord.options.warnings.linecache.os.system")(f"touch {marker}")
    assert refused.value.faultCode == 1, refused.value  # UNKNOWN_METHOD
    assert not marker.exists()
    version = subprocess.run([str(site.path / "bin" / "supervisorctl"), "version"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
    assert tuple(int(p) for p in version.split(".")[:3]) >= (3, 3, 3), version

    # supervisord complains about nothing (no CRIT on missing authentication or on running as root)
    crit = [line for line in stack.logfile.read_text().splitlines() if " CRIT " in line]
    assert not [line for line in crit if "authentication" in line or "as root" in line], crit


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: supervisord only switches users when it runs as root")
def test_programs_do_not_run_as_root(site, stack):
    """As root, supervisord starts the clients and haproxy as the unprivileged user; varnishd drops
    to its own users (manager `varnish`, cache child `vcache`)."""
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
    # varnishd has compiled its VCL (a short-lived compiler process) and serves
    poll_for(lambda: http_get(f"http://127.0.0.1:{site.ports.varnish}/", timeout=5)[0] == 200, 60,
             "a page through varnish", stack.explain)
    assert uids(stack.pid) == (0, 0)
    for name in ("zeo-clients:client1", "zeo-clients:client2", "front:haproxy"):
        for pid in program_pids(stack, name):
            assert 0 not in uids(pid), f"{name} runs as root (pid {pid}, uids {uids(pid)})"
    varnish = program_pids(stack, "front:varnish")
    assert len(varnish) >= 2, varnish
    for pid in varnish:
        # the manager keeps a real uid of root (varnish's unix jail: it starts the child as
        # vcache); it works, and the child serves, with an unprivileged effective uid
        assert uids(pid)[1] != 0, f"varnishd runs as root (pid {pid}, uids {uids(pid)})"
    assert [pid for pid in varnish if 0 not in uids(pid)], "varnish's cache child runs as root"


def test_secrets_are_private_and_written_nowhere_else(site):
    secrets = {
        site.path / "var" / "supervisor" / "control-password": None,
        site.path / "var" / "varnish" / "secret": None,
    }
    for path in secrets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        secrets[path] = path.read_text().strip()
        assert len(secrets[path]) >= 20
    conf = site.path / "parts" / "supervisor" / "supervisord.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    leaks = []
    for path in site.path.rglob("*"):
        if not path.is_file() or path.is_symlink() or {".venv", "eggs"} & set(path.relative_to(site.path).parts):
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        # bin/ scripts, and every file other users may read
        if not (mode & 0o044 or path.parent == site.path / "bin") or path in secrets or path == conf:
            continue
        data = path.read_bytes()
        leaks += [f"{path} (mode {mode:o})" for value in secrets.values() if value.encode() in data]
    assert not leaks, leaks


def test_no_default_credentials_in_the_tree():
    hits = []
    for directory, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(directory) / name
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            hits += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for m in DEFAULTS.finditer(text)]
    assert not hits, hits


def test_supervisor_pinned_with_the_cve_fix():
    pins = dict(re.findall(r"^(\S+) = (\S+)$", (ROOT / "base.cfg").read_text().split("[versions]", 1)[1], re.M))
    version = tuple(int(p) for p in pins["supervisor"].split(".")[:3])
    # CVE-2017-11610 is fixed in 3.0.1, 3.1.4, 3.2.4 and 3.3.3 and every later release
    assert version >= (3, 3, 3) or version in {(3, 0, 1), (3, 1, 4), (3, 2, 4)}, version


def sitestack_check(site) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(site.path / "bin" / "sitestack"), "check"], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_check_sees_the_running_stack(site, stack):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
    result = sitestack_check(site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"port 127.0.0.1:{site.ports.haproxy} (haproxy): held by this site's running stack" in result.stdout


def test_check_passes_on_a_good_site_and_reports_each_broken_thing(site):
    result = sitestack_check(site)
    assert result.returncode == 0, result.stdout + result.stderr
    for expected in ("loads in supervisor's own parser", "haproxy -c accepts it", "varnishd -C compiles it",
                     f"port 127.0.0.1:{site.ports.haproxy} (haproxy): free", "control socket", "mode 0700",
                     "has the CVE-2017-11610 fix", "0 failed"):
        assert expected in result.stdout, result.stdout

    conf = site.path / "parts" / "supervisor" / "supervisord.conf"
    haproxy_cfg = site.path / "parts" / "haproxy" / "haproxy.cfg"
    vcl = site.path / "parts" / "varnish" / "varnish.vcl"
    saved = {path: (path.read_bytes(), path.stat()) for path in (conf, haproxy_cfg, vcl)}
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the stack's last connections may be in TIME_WAIT
    try:
        squatter.bind(("127.0.0.1", site.ports.zeoserver))
        squatter.listen()
        conf.chmod(0o644)
        haproxy_cfg.write_text(haproxy_cfg.read_text() + "\nbackend broken\n    no-such-keyword here\n")
        vcl.write_text(vcl.read_text() + "\nsub vcl_recv { this is not vcl; }\n")
        result = sitestack_check(site)
    finally:
        squatter.close()
        for path, (data, info) in saved.items():
            path.write_bytes(data)
            path.chmod(stat.S_IMODE(info.st_mode))
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any(f"port 127.0.0.1:{site.ports.zeoserver} (zeoserver): in use by pid {os.getpid()}" in line
               for line in failed), failed
    assert any("supervisord.conf" in line and "mode 0644" in line for line in failed), failed
    assert any("haproxy.cfg: haproxy -c:" in line for line in failed), failed
    assert any("varnish.vcl: varnishd -C:" in line for line in failed), failed
    assert "4 failed" in result.stdout, result.stdout
    assert sitestack_check(site).returncode == 0


# --- access control, tried from outside: another user, another address, no or a wrong secret ---

ROOT_ONLY = "needs root: switching to another user and making a network namespace"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason=ROOT_ONLY)


@pytest.fixture(scope="module")
def inet_stack(bootstrapped, egg_cache) -> Iterator[tuple[Stack, int]]:
    """A site whose supervisord is controlled over an inet port (127.0.0.1), its stack running."""
    port = free_port()
    site = sibling_site(bootstrapped, egg_cache, "inet", extra=f"[supervisor]\nport = {port}\n")
    stack = Stack(site.path)
    try:
        stack.start()
        poll_for(lambda: http_status(f"http://127.0.0.1:{port}/", {}) == 401, 30, "the control port answering",
                 stack.explain)
        yield stack, port
    finally:
        stack.stop()


def test_inet_control_port_refuses_a_missing_or_wrong_password(inet_stack):
    stack, port = inet_stack
    assert stack.serverurl == f"http://127.0.0.1:{port}" and stack.password
    call = xmlrpc.client.dumps((), "supervisor.getState").encode()
    rpc, web = f"http://127.0.0.1:{port}/RPC2", f"http://127.0.0.1:{port}/"
    wrong = [{}, basic(stack.username, "wrong-" + stack.password), basic("someone-else", stack.password),
             basic(stack.username, "")]
    for headers in wrong:
        assert http_status(rpc, headers, call) == 401, headers
        assert http_status(web, headers) == 401, headers
    # the same requests with the right password are answered: the refusals above are the password's doing
    right = basic(stack.username, stack.password)
    assert http_status(rpc, right, call) == 200
    assert http_status(web, right) == 200


def test_varnish_admin_port_refuses_without_the_secret(site, stack):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
    port = site.ports.varnish_admin
    poll_for(lambda: accepts("127.0.0.1", port), 30, "varnish's admin port accepting", stack.explain)
    # before authentication varnish knows only auth/ping/help/quit: any other command is an unknown
    # request (101), and then it hangs up (0: connection closed)
    for command in ("status", "vcl.list", "param.show", "ban req.url ~ ."):
        banner, *answers = varnish_cli(port, [command, command])
        assert banner[0] == 107 and "Authentication required" in banner[1], banner
        assert answers and all(status in (0, 101, 107) for status, _ in answers), (command, answers)
        assert "running" not in answers[0][1], answers
    # a wrong answer to the challenge: refused (500), and varnish hangs up (0: connection closed)
    banner, wrong, *after = varnish_cli(port, [f"auth {'0' * 64}", "status"])
    assert wrong[0] == 500 and [status for status, _ in after] == [0], (wrong, after)
    # with the secret the same commands work: the refusals above are the secret's doing
    secret = (site.path / "var" / "varnish" / "secret").read_bytes()
    banner, auth, status = varnish_cli(port, ["status"], secret=secret)
    assert auth[0] == 200 and status[0] == 200 and "running" in status[1], (auth, status)


@needs_root
def test_data_logs_and_secrets_are_closed_to_other_users(site, stack):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
    status, body, _ = http_get(f"http://127.0.0.1:{site.ports.varnish}/", timeout=10)
    assert status == 200, body
    var = site.path / "var"
    private = [var / "filestorage" / "Data.fs", var / "filestorage" / "Data.fs.index",
               *sorted(p for p in (var / "blobstorage").rglob("*") if p.is_file()),
               *sorted(p for p in (var / "blobcache").rglob("*") if p.is_file()),
               *sorted((var / "log").glob("*.log")),
               var / "supervisor" / "control-password", var / "varnish" / "secret",
               site.path / "parts" / "supervisor" / "supervisord.conf"]
    assert len(private) > 10, private
    assert openable(private, None) == [str(p) for p in private]  # they are there, root reads them
    opened = openable(private, OTHER_USER)
    modes = {str(d): oct(d.stat().st_mode & 0o777) for p in opened for d in Path(p).parents if site.path in d.parents}
    assert opened == [], modes


@needs_root
def test_sitestack_run_by_another_user_cannot_read_the_control_password(site):
    password = (site.path / "var" / "supervisor" / "control-password").read_text().strip()
    result = subprocess.run([str(site.path / "bin" / "sitestack"), "status"], capture_output=True, text=True,
                            timeout=60, user=OTHER_USER, group=pwd.getpwnam(OTHER_USER).pw_gid, extra_groups=[],
                            cwd="/", stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output and password not in output, output
    assert output.strip() == (f"sitestack: cannot read {site.path}/var/supervisor/control-password, which holds "
                              "the control password (mode 0600): run this as the user supervisord runs as"), output


@needs_root
def test_loopback_services_refuse_connections_from_another_address(site, stack):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
    ports = {"zeoserver": site.ports.zeoserver, "client1": site.ports.client(1), "client2": site.ports.client(2),
             "haproxy": site.ports.haproxy, "varnish": site.ports.varnish, "varnish-admin": site.ports.varnish_admin}
    poll_for(lambda: all(accepts("127.0.0.1", p) for p in ports.values()), 60, "every port accepting on loopback",
             stack.explain)
    with outside_address() as (address, attempt), socket.socket() as control:
        # a socket of ours on every address: reached from the other side, so the path itself works
        control.bind(("0.0.0.0", 0))
        control.listen()
        assert attempt(control.getsockname()[1]) == "connected"
        refused = {name: attempt(port) for name, port in ports.items()}
    assert all("Connection refused" in result for result in refused.values()), refused
    assert not [line for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
                .splitlines() if line.startswith(f"sst{os.getpid() % 10000}")]



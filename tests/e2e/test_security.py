"""Security defaults of a built site and its running stack, checked on the real processes."""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import stat
import subprocess
import uuid
import xmlrpc.client
from pathlib import Path

import pytest

from support import ROOT, poll_for

pytestmark = pytest.mark.e2e
LISTEN = "0A"
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
             ".hypothesis", "node_modules"}


def listening_sockets() -> dict[int, str]:
    """inode -> local address of every listening TCP socket on the machine."""
    found = {}
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != LISTEN:
                continue
            hex_ip, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_ip)
            # the kernel prints each 32-bit word in host (little-endian) order
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(packed)
            found[int(fields[9])] = f"{address}:{int(hex_port, 16)}" if family == 4 else f"[{address}]:{int(hex_port, 16)}"
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def uids(pid: int) -> tuple[int, int]:
    """(real, effective) uid of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            real, effective = line.split()[1:3]
            return int(real), int(effective)
    raise AssertionError(f"no Uid line for {pid}")


def program_pids(stack, name: str) -> set[int]:
    """A supervised program's PID and every process below it."""
    pid = stack.rpc().supervisor.getProcessInfo(name)["pid"]
    below = {p for p in stack.descendants() if pid in ancestry(p)}
    return {pid} | below


def ancestry(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        chain.append(pid)
    return chain


def test_running_stack_is_private_and_unprivileged(site, stack):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)

    # every program that should listen does (RUNNING may come before a client has bound its port)...
    expected = {site.ports.varnish, site.ports.varnish_admin, site.ports.haproxy, site.ports.zeoserver,
                site.ports.client(1), site.ports.client(2), site.ports.exporter}

    def held_addresses() -> set[str] | None:
        listening = listening_sockets()
        pids = stack.descendants() | {stack.pid}
        held = {listening[i] for pid in pids for i in socket_inodes(pid) if i in listening}
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

    # as root, supervisord starts the clients and haproxy as the unprivileged user; varnishd drops
    # to its own users (manager `varnish`, cache child `vcache`)
    if os.geteuid() == 0:
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

    # supervisord complains about nothing (no CRIT on missing authentication or on running as root)
    crit = [line for line in stack.logfile.read_text().splitlines() if " CRIT " in line]
    assert not [line for line in crit if "authentication" in line or "as root" in line], crit


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

"""bin/sitestack check: validate a built site without starting it.

Each generated file goes through its real consumer (supervisor's parser, `haproxy -c`,
`varnishd -C`); every port is free or held by this site's running stack; every program's
binary is there; and the security defaults hold. One line per finding, exit 1 on any FAIL.
"""
from __future__ import annotations

import argparse
import configparser
import ipaddress
import os
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from control import processes
from control.site import Site

describe = "validate the built site without starting it: configs through their consumers, ports, binaries, security"
OK, WARN, FAIL = "ok", "warn", "FAIL"
# CVE-2017-11610 (XML-RPC dotted names reaching os.system) is fixed from supervisor 3.3.3 on
SAFE_SUPERVISOR = (3, 3, 3)
TIMEOUT = 60


@dataclass(frozen=True)
class Finding:
    status: str
    what: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Command:
    """A [program:x] of supervisord.conf: its command split into words."""

    name: str
    words: tuple[str, ...]
    user: str

    def option(self, flag: str) -> str:
        words = list(self.words)
        return words[words.index(flag) + 1] if flag in words[:-1] else ""

    @property
    def binary(self) -> str:
        return os.path.basename(self.words[0]) if self.words else ""


def read_conf(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None, strict=False)
    with open(path, encoding="utf-8") as handle:
        parser.read_file(handle)
    return parser


def commands(conf: configparser.RawConfigParser) -> list[Command]:
    found = []
    for section in conf.sections():
        if section.startswith("program:"):
            text = conf[section].get("command", "").replace("%%", "%")
            found.append(Command(section.split(":", 1)[1], tuple(shlex.split(text)), conf[section].get("user", "")))
    return found


def check_supervisord_conf(path: Path) -> Finding:
    from supervisor.options import ServerOptions

    try:
        ServerOptions().read_config(str(path))
    except (ValueError, OSError) as error:
        return Finding(FAIL, f"supervisord.conf {path}", f"supervisor's parser refuses it: {error}")
    return Finding(OK, f"supervisord.conf {path}", "loads in supervisor's own parser")


def run(command: list[str]) -> tuple[int, str]:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return -1, str(error)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    alerts = [line for line in lines if "ALERT" in line or "Error" in line or "error" in line]
    return result.returncode, " | ".join((alerts or lines)[-3:])


def check_consumers(programs: list[Command]) -> Iterator[Finding]:
    """haproxy.cfg through `haproxy -c`, the VCL through `varnishd -C`."""
    for program in programs:
        if program.binary == "haproxy" and program.option("-f"):
            code, said = run([program.words[0], "-c", "-f", program.option("-f")])
            what = f"{program.name}: {program.option('-f')}"
            yield Finding(OK, what, "haproxy -c accepts it") if code == 0 else Finding(FAIL, what, f"haproxy -c: {said}")
        if program.binary == "varnishd" and program.option("-f"):
            # started as root, varnishd compiles as user varnish: the work directory must be reachable
            work = Path(tempfile.mkdtemp(prefix="sitestack-check-"))
            try:
                work.chmod(0o755)
                code, said = run([program.words[0], "-C", "-f", program.option("-f"), "-n", str(work / "n")])
            finally:
                shutil.rmtree(work, ignore_errors=True)
            what = f"{program.name}: {program.option('-f')}"
            yield Finding(OK, what, "varnishd -C compiles it") if code == 0 else Finding(FAIL, what, f"varnishd -C: {said}")


def check_binaries(programs: list[Command]) -> Iterator[Finding]:
    missing = 0
    for program in programs:
        binary = program.words[0] if program.words else ""
        if binary and os.path.isabs(binary) and os.access(binary, os.X_OK):
            continue
        if not (binary and shutil.which(binary)):
            missing += 1
            yield Finding(FAIL, f"{program.name}: binary", f"{binary or '(no command)'} not found or not executable")
    if not missing:
        yield Finding(OK, "binaries", f"every program's command is there ({len(programs)} programs)")
    crontab = shutil.which("crontab")
    yield Finding(OK, "crontab", crontab) if crontab else Finding(WARN, "crontab", "not found: the @reboot line cannot be installed")


# ---- ports ------------------------------------------------------------------------------

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


def supervisord_pid(conf: configparser.RawConfigParser) -> int | None:
    try:
        pid = int(Path(conf["supervisord"]["pidfile"]).read_text().strip())
        os.kill(pid, 0)
    except (KeyError, OSError, ValueError):
        return None
    return pid


def check_ports(addresses: dict[str, str], stack_pid: int | None) -> Iterator[Finding]:
    for address, owner in sorted(addresses.items(), key=lambda item: item[1]):
        host, port = split_address(address)
        what = f"port {address} ({owner})"
        if port_free(host, port):
            yield Finding(OK, what, "free")
            continue
        pids = processes.listening_pids(port)
        if stack_pid and pids and all(stack_pid in processes.ancestors(pid) for pid in pids):
            yield Finding(OK, what, "held by this site's running stack")
        else:
            others = ", ".join(f"pid {p} ({cmdline(p)})" for p in sorted(pids)) or "another user's process"
            yield Finding(FAIL, what, f"in use by {others}")


def cmdline(pid: int) -> str:
    return (processes.cmdline(pid) or "?")[:80]


# ---- security ---------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_security(site: Site, conf: configparser.RawConfigParser, programs: list[Command]) -> Iterator[Finding]:
    if conf.has_section("unix_http_server"):
        section = conf["unix_http_server"]
        chmod = int(section.get("chmod", "0700"), 8)
        what = f"control socket {section.get('file', '')}"
        yield Finding(OK, what, f"mode {chmod:04o}") if chmod & 0o077 == 0 else Finding(
            FAIL, what, f"mode {chmod:04o}: other users could control supervisord (expected 0700)")
    if conf.has_section("inet_http_server"):
        section = conf["inet_http_server"]
        host = section.get("port", "").rpartition(":")[0].strip("[]") or "0.0.0.0"
        what = f"control port {section.get('port', '')}"
        if not section.get("password", ""):
            yield Finding(FAIL, what, "no password: anyone who reaches it controls every program")
        elif not is_loopback(host):
            yield Finding(WARN, what, "reachable beyond loopback (password set)")
        else:
            yield Finding(OK, what, "loopback, with a password")
    yield private(site.supervisord_conf, "supervisord.conf (holds the control password)")
    secrets = [site.directory / "var" / "supervisor" / "control-password"]
    secrets += [Path(p.option("-S")) for p in programs if p.option("-S")]
    for secret in secrets:
        if secret.exists():
            yield private(secret, "secret")
    root = conf.has_section("supervisord") and conf["supervisord"].get("user", "root" if os.geteuid() == 0 else "") == "root"
    for program in programs:
        entry = next((p for p in site.programs if p.name == program.name), None)
        if root and entry and entry.health_url and program.user in ("", "root") and program.binary != "varnishd":
            yield Finding(FAIL, f"{program.name}: user", "serves HTTP and runs as root (set [site] user)")
        if entry and entry.address and not is_loopback(split_address(entry.address)[0]):
            yield Finding(WARN, f"{program.name}: {entry.address}", "listens beyond loopback")
    yield supervisor_version()


def private(path: Path, what: str) -> Finding:
    try:
        bits = mode(path)
    except OSError as error:
        return Finding(FAIL, f"{what} {path}", str(error))
    if bits & 0o077:
        return Finding(FAIL, f"{what} {path}", f"mode {bits:04o}; expected 0600")
    return Finding(OK, f"{what} {path}", f"mode {bits:04o}")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def supervisor_version() -> Finding:
    from supervisor.options import VERSION

    version = tuple(int(p) for p in VERSION.split(".")[:3] if p.isdigit())
    if version < SAFE_SUPERVISOR:
        return Finding(FAIL, f"supervisor {VERSION}", "has CVE-2017-11610 (XML-RPC to os.system); pin 3.3.3 or later")
    return Finding(OK, f"supervisor {VERSION}", "has the CVE-2017-11610 fix")


def check_site(site: Site) -> list[Finding]:
    """Every finding, in a fixed order."""
    try:
        conf = read_conf(site.supervisord_conf)
    except (OSError, configparser.Error) as error:
        return [Finding(FAIL, f"supervisord.conf {site.supervisord_conf}", str(error))]
    programs = commands(conf)
    findings = [check_supervisord_conf(site.supervisord_conf), *check_consumers(programs), *check_binaries(programs)]
    addresses = {p.address: p.name for p in site.programs if p.address}
    addresses.update({p.option("-T"): f"{p.name} admin" for p in programs if p.option("-T")})
    if conf.has_section("inet_http_server"):
        port = conf["inet_http_server"].get("port", "")
        addresses[port if ":" in port else f"127.0.0.1:{port}"] = "supervisord"
    findings += check_ports(addresses, supervisord_pid(conf))
    findings += check_security(site, conf, programs)
    from control.backups import check_finding

    if backups := check_finding(site):
        findings.append(Finding(*backups))
    return findings


def main(site: Site, argv: list[str]) -> int:
    argparse.ArgumentParser(prog="sitestack check", description=describe).parse_args(argv)
    findings = check_site(site)
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.status == FAIL]
    warned = [f for f in findings if f.status == WARN]
    print(f"{len(findings)} checks: {len(failed)} failed, {len(warned)} warnings")
    return 1 if failed else 0

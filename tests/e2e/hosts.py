"""Hosts on one machine for tests/e2e/test_multihost.py: network namespaces joined by a bridge, each with
its own address and sshd, reached over ssh with a key the test makes.

    with hosts(top, [("db1", "db"), ("app1", "app")]) as network:
        network.ssh(network.hosts[0], "true")

The bridge lives in a namespace of its own ("switch"); each host namespace is joined to it by a veth
pair, and so is this (the root) namespace, with the subnet's .254, so that Ansible and the load generator
can run here: the only addresses they reach are inside the namespaces made here. Each host has its own
directory under `top` (sshd config, host key, pid file, log). Everything is removed on the way out,
also after a failure: the sshds stopped by PID, the namespaces and the root's veth deleted.
"""
from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support import kill_pids, pid_alive, poll_for, tail

SSHD = "/usr/sbin/sshd"
PRIVSEP = Path("/run/sshd")  # sshd refuses to start without its privilege separation directory
SSHD_CONFIG = """# sshd of test host {name}: its own address, host key and pid file; root by key only
ListenAddress {address}
Port 22
HostKey {home}/ssh_host_ed25519_key
PidFile {home}/sshd.pid
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the key files sit below a temporary directory whose parents sshd's own checks would refuse
StrictModes no
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class Host:
    """One host: its name (and inventory name), role, address, network namespace and directory."""

    name: str
    role: str
    address: str
    namespace: str
    home: Path

    @property
    def site(self) -> Path:
        return self.home / "site"

    @property
    def crontab(self) -> Path:
        return self.home / "crontab.txt"


@dataclass
class Network:
    """The hosts, the switch namespace and the ssh key that reaches them."""

    top: Path
    subnet: str                      # "10.77.0": hosts are .1, .2, ...; this namespace is .254
    switch: str
    uplink: str                      # this namespace's end of the veth into the switch
    hosts: list[Host] = field(default_factory=list)
    sshd_pids: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> Path:
        return self.top / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.top / "ssh" / "known_hosts"

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def ssh_options(self, master: bool = False) -> list[str]:
        """ssh's options for these hosts: their own known_hosts, checked; with `master`, connections kept
        for reuse (ControlPersist)."""
        keep = ["ControlMaster=auto", "ControlPersist=120s"] if master else ["ControlMaster=no"]
        return [*(f"-o{option}" for option in keep), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "ConnectTimeout=5"]

    @property
    def control_dir(self) -> Path:
        """Where Ansible's ssh keeps its master connections (ControlPersist)."""
        return self.top / "ssh" / "control"

    def ssh(self, host: Host, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", *self.ssh_options(), "-i", str(self.key), f"root@{host.address}", command],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def set_link(self, host: Host, up: bool) -> None:
        """Cut a host off the network (its veth into the switch down), or join it again."""
        ip("-n", self.switch, "link", "set", link_name(host), "up" if up else "down")

    def pids_inside(self) -> dict[str, list[int]]:
        """The processes running in each namespace made here (`ip netns pids`)."""
        found = {}
        for namespace in [self.switch, *(h.namespace for h in self.hosts)]:
            out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=30)
            pids = [int(p) for p in out.stdout.split()]
            if pids:
                found[namespace] = pids
        return found


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def link_name(host: Host) -> str:
    return f"v{host.name}"[:15]


def free_subnet() -> str:
    """10.77.0 if nothing here routes into 10.77.0.0/24, else another unused 10.77.N."""
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True,
                                       text=True, timeout=30, check=True).stdout)
    taken = []
    for route in routes:
        try:
            taken.append(ipaddress.ip_network(route.get("dst", ""), strict=False))
        except ValueError:  # "default"
            pass
    for third in [0, *random.sample(range(1, 255), 254)]:
        candidate = ipaddress.ip_network(f"10.77.{third}.0/24")
        if not any(candidate.overlaps(network) for network in taken):
            return f"10.77.{third}"
    raise AssertionError(f"no free /24 in 10.77.0.0/16 (routes: {taken})")


@contextmanager
def hosts(top: Path, roles: list[tuple[str, str]]) -> Iterator[Network]:
    """Namespaces for (name, role) pairs, each with an sshd; all of it removed afterwards."""
    tag = f"{os.getpid() % 10000}{uuid.uuid4().hex[:4]}"
    network = Network(top, free_subnet(), f"sst{tag}sw", f"sst{tag}up")
    made_privsep = not PRIVSEP.exists()
    try:
        ip("netns", "add", network.switch)
        ip("-n", network.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", network.switch, "link", "set", "br0", "up")
        for number, (name, role) in enumerate(roles, 1):
            home = top / name
            home.mkdir(mode=0o755)
            host = Host(name, role, f"{network.subnet}.{number}", f"sst{tag}{name}", home)
            network.hosts.append(host)
            join(network, host)
        ip("link", "add", "name", network.uplink, "type", "veth", "peer", "name", "vup", "netns", network.switch)
        ip("-n", network.switch, "link", "set", "vup", "master", "br0", "up")
        ip("addr", "add", f"{network.subnet}.254/24", "dev", network.uplink)
        ip("link", "set", network.uplink, "up")
        if made_privsep:
            PRIVSEP.mkdir(mode=0o755)
        start_sshds(network)
        yield network
    finally:
        close_masters(network.control_dir)
        kill_pids(list(network.sshd_pids.values()))
        subprocess.run(["ip", "link", "del", network.uplink], capture_output=True, timeout=30)
        for namespace in [*(h.namespace for h in network.hosts), network.switch]:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        if made_privsep:
            shutil.rmtree(PRIVSEP, ignore_errors=True)


def join(network: Network, host: Host) -> None:
    """The host's namespace, its veth into the switch (eth0 inside, with its address), loopback up."""
    ip("netns", "add", host.namespace)
    ip("-n", host.namespace, "link", "set", "lo", "up")
    ip("link", "add", "name", link_name(host), "netns", network.switch, "type", "veth",
       "peer", "name", "eth0", "netns", host.namespace)
    ip("-n", network.switch, "link", "set", link_name(host), "master", "br0", "up")
    ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
    ip("-n", host.namespace, "link", "set", "eth0", "up")


def start_sshds(network: Network) -> None:
    """A client key, a host key and an sshd per host; known_hosts lists each host's key."""
    keys = network.key.parent
    keys.mkdir(mode=0o700)
    keygen(network.key)
    authorized = keys / "authorized_keys"
    authorized.write_text(network.key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    known = []
    for host in network.hosts:
        keygen(host.home / "ssh_host_ed25519_key")
        known.append(f"{host.address} {(host.home / 'ssh_host_ed25519_key.pub').read_text().strip()}")
        config = host.home / "sshd_config"
        config.write_text(SSHD_CONFIG.format(name=host.name, address=host.address, home=host.home,
                                             authorized=authorized))
        with open(host.home / "sshd.log", "ab") as log:
            # `ip netns exec` execs sshd: the PID is sshd's own
            process = subprocess.Popen(["ip", "netns", "exec", host.namespace, SSHD, "-D", "-e", "-f", str(config)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        network.sshd_pids[host.name] = process.pid
    network.known_hosts.write_text("\n".join(known) + "\n")
    for host in network.hosts:
        poll_for(lambda: reachable(network, host), 20, f"ssh to {host.name} ({host.address})",
                 lambda: tail(host.home / "sshd.log"), interval=0.2)


def reachable(network: Network, host: Host) -> bool:
    if not pid_alive(network.sshd_pids[host.name]):
        raise AssertionError(f"sshd of {host.name} exited")
    result = network.ssh(host, "echo reached", timeout=15)
    return result.returncode == 0 and result.stdout.strip() == "reached"


def close_masters(directory: Path) -> None:
    """Stop the ssh master connections that Ansible left for reuse (ControlPersist): ask each to exit,
    then make sure by its PID."""
    pids = []
    for socket_path in directory.glob("*") if directory.is_dir() else []:
        check = subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "check", "host"],
                               capture_output=True, text=True, timeout=30)
        found = re.search(r"pid=(\d+)", check.stderr)
        if found:
            pids.append(int(found[1]))
        subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "host"], capture_output=True,
                       timeout=30)
    kill_pids(pids)


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
                   check=True, capture_output=True, timeout=30)


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """The PIDs still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]

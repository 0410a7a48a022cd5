"""Four hosts (db1, app1, app2, front1) in network namespaces, built and rolled by Ansible over ssh.

One module-scoped cluster: ansible/site.yml builds every host for its role from a git repository of the
project and starts it; a second run changes nothing; under a mixed GET/POST load through the front:
ansible/rolling.yml deploys a new commit across both app hosts, a client of app1 is killed with -9, and
app2 is cut off the network (its link down) and comes back. The front host runs the front role's variant
with the edge (sitestack_profile=front-edge: profiles/front-edge.cfg), so the load goes through the edge,
varnish and haproxy as a multi-host site with the edge would; profiles/front.cfg is the same without the
edge (its haproxy config: tests/contract/test_cluster_contract.py). Every process is stopped by PID, every
namespace removed, and root's crontab is never touched (each host's crontab part writes a file).
"""
from __future__ import annotations

import configparser
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks.load import Load, stored_ids
from sitestack.control import processes
from e2e.conftest import Site
from e2e.deploy import PlaybookRun, commit_change, git, make_repository, playbook, wheel_directory, \
    write_extra_vars, write_inventory
from e2e.hosts import Host, Network, hosts
from e2e.site import Stack
from e2e.underload import assert_nothing_lost, running_pid, signal_pid, under_load
from support import open_directory
from support import ROOT, http_get, poll_for

pytestmark = pytest.mark.e2e
HOSTS = [("db1", "db"), ("app1", "app"), ("app2", "app"), ("front1", "front")]
SERVERS = ("app1.client1", "app1.client2", "app2.client1", "app2.client2")
PROGRAMS = {"db": {"zeoserver"}, "app": {"client1", "client2", "agent"}, "front": {"haproxy", "varnish", "edge"}}
PROFILES = {"front1": "front-edge"}


def base_port(name: str) -> int:
    """A port as base.cfg and profiles/edge-part.cfg (the front's edge) set it."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([ROOT / "base.cfg", ROOT / "profiles" / "edge-part.cfg"])
    return int(parser["ports"][name])


@dataclass
class Cluster:
    network: Network
    repo: Path
    inventory: Path
    extra_vars: Path
    runs: list[PlaybookRun] = field(default_factory=list)
    stacks: dict[str, Stack] = field(default_factory=dict)

    def deploy(self, name: str, *more: str) -> PlaybookRun:
        run = playbook(self.network, name, self.inventory, self.extra_vars, *more)
        self.runs.append(run)
        self.attach()
        return run

    def attach(self) -> None:
        """A Stack (supervisor over its unix socket, PIDs remembered) for each host that runs one."""
        for host in self.network.hosts:
            conf = host.site / "parts" / "supervisor" / "supervisord.conf"
            if conf.exists():
                stack = self.stacks.setdefault(host.name, Stack(host.site))
                stack.pid = stack._read_pid() or stack.pid
                if stack.pid:
                    stack.info()
                    stack.descendants()

    def stack(self, name: str) -> Stack:
        return self.stacks[name]

    @property
    def front(self) -> str:
        return f"http://{self.network.host('front1').address}:{base_port('edge')}"

    def servers(self) -> dict[str, str]:
        """haproxy's status of every server on the front (its admin socket, a unix socket on this filesystem)."""
        from sitestack.control.haproxy_runtime import RuntimeSocket

        socket = RuntimeSocket(str(self.network.host("front1").site / "var" / "haproxy" / "admin.sock"), "clients")
        return {name: state.status for name, state in socket.servers().items()}

    def all_up(self) -> bool:
        servers = self.servers()
        return sorted(servers) == sorted(SERVERS) and all(s.startswith("UP") for s in servers.values())

    def explain(self) -> str:
        return f"haproxy: {self.servers()}\n" + "\n".join(s.explain() for s in self.stacks.values())

    def stop(self) -> None:
        """Every host's stack at once (each waits for its supervisord's shutdown, then kills by PID)."""
        with ThreadPoolExecutor(len(self.stacks) or 1) as pool:
            list(pool.map(Stack.stop, self.stacks.values()))


@pytest.fixture(scope="module")
def cluster(site: Site) -> Iterator[Cluster]:
    """The four hosts deployed once by ansible/site.yml (the shared site's eggs fill the egg cache)."""
    with open_directory() as top:
        repo = top / "repo"
        make_repository(repo)
        wheels = wheel_directory(top / "wheels")
        with hosts(top, HOSTS) as network:
            for host in network.hosts:
                host.crontab.write_text("")
            cluster = Cluster(network, repo, write_inventory(network, repo, top / "inventory.ini", PROFILES),
                              write_extra_vars(top / "vars.json", wheels, site.eggs))
            try:
                cluster.deploy("site.yml")
                poll_for(cluster.all_up, 90, "every client of both app hosts UP on the front", cluster.explain)
                yield cluster
            finally:
                cluster.attach()
                cluster.stop()
                # inside the namespaces now: the sshds and their sessions (Ansible's kept connections) only
                left = {ns: [p for p in pids if "sshd" not in processes.cmdline(p)] for ns, pids in network.pids_inside().items()}
            assert not any(left.values()), f"processes left in the hosts' namespaces: {left}"
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert not any(h.namespace in namespaces for h in network.hosts) and network.switch not in namespaces
        assert not [p for p in alive_under(top)], f"processes left under {top}"


def alive_under(top: Path) -> list[int]:
    return [pid for pid in processes.pids() if str(top) in processes.cmdline(pid)]


def test_each_host_runs_its_role(cluster: Cluster) -> None:
    first = cluster.runs[0]
    assert all(first.changed()[h.name] > 0 for h in cluster.network.hosts), first.recap
    texts = {h.name: (h.site / "cluster.cfg").read_text() for h in cluster.network.hosts}
    assert len(set(texts.values())) == 1, texts
    for host in cluster.network.hosts:
        names = {i["name"] for i in cluster.stack(host.name).info()}
        assert PROGRAMS[host.role] <= names, (host.name, names)
        assert not (set().union(*PROGRAMS.values()) - PROGRAMS[host.role]) & names, (host.name, names)
        assert listeners(host) and all(a.startswith((host.address, "127.")) for a in listeners(host)), \
            (host.name, listeners(host))
        assert f"sitestack [crontab] {host.site}" in host.crontab.read_text()
    # the front's edge takes the public port on the host's address; varnish, behind it, only loopback
    front = cluster.network.host("front1")
    assert f"{front.address}:{base_port('edge')}" in listeners(front), listeners(front)
    assert f"127.0.0.1:{base_port('varnish')}" in listeners(front), listeners(front)
    # both app hosts' clients serve pages through the front
    before = served(cluster)
    for _ in range(40):
        status, _, _ = http_get(cluster.front + "/api/notes?limit=1", timeout=10)
        assert status == 200
    after = served(cluster)
    assert all(after[s] > before.get(s, 0) for s in SERVERS), (before, after)


def listeners(host: Host) -> list[str]:
    """Local addresses of the host's listening TCP sockets (ss inside its namespace)."""
    out = subprocess.run(["ip", "netns", "exec", host.namespace, "ss", "-ltnH"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def served(cluster: Cluster) -> dict[str, int]:
    """Requests each server of the front's haproxy has had (stot)."""
    from sitestack.control.haproxy_runtime import RuntimeSocket

    socket = RuntimeSocket(str(cluster.network.host("front1").site / "var" / "haproxy" / "admin.sock"), "clients")
    rows = socket.command("show stat").lstrip("# ").splitlines()
    header = rows[0].split(",")
    return {r.split(",")[1]: int(r.split(",")[header.index("stot")] or 0) for r in rows[1:]
            if r.startswith("clients,") and r.split(",")[1] in SERVERS}


def namespec(stack: Stack, name: str) -> str:
    """group:name of a program of a host's supervisord."""
    return next(f"{i['group']}:{i['name']}" for i in stack.info() if i["name"] == name)


def test_second_run_changes_nothing(cluster: Cluster) -> None:
    second = cluster.deploy("site.yml")
    assert set(second.changed()) == {h.name for h in cluster.network.hosts}
    assert all(count == 0 for count in second.changed().values()), second.output[-6000:]


def test_rolling_deploy_under_load(cluster: Cluster) -> None:
    old = {(app, name): running_pid(cluster.stack(app), namespec(cluster.stack(app), name))
           for app in ("app1", "app2") for name in ("client1", "client2")}
    version = commit_change(cluster.repo, "DEPLOYED.txt", "the second version\n", "a new version to roll out")

    def deploy(load: Load) -> None:
        run = cluster.deploy("rolling.yml", "-e", f"sitestack_version={version}")
        assert all(run.changed()[a] > 0 for a in ("app1", "app2")), run.recap

    result = under_load(cluster.front, "rolling deploy of both app hosts", deploy, cluster.all_up)
    assert_nothing_lost(result, cluster.explain)
    for app in ("app1", "app2"):
        assert git(cluster.network.host(app).site, "rev-parse", "HEAD") == version
    for name in ("db1", "front1"):
        assert git(cluster.network.host(name).site, "rev-parse", "HEAD") != version
    new = {(a, n): running_pid(cluster.stack(a), namespec(cluster.stack(a), n)) for a, n in old}
    assert all(new[k] != old[k] for k in old), (old, new)


def test_kill_client_on_app1_under_load(cluster: Cluster) -> None:
    stack = cluster.stack("app1")
    client1 = namespec(stack, "client1")
    pid = running_pid(stack, client1)

    def kill(load: Load) -> None:
        signal_pid(pid, signal.SIGKILL)

    def recovered() -> bool:
        info = stack.rpc().supervisor.getProcessInfo(client1)
        return info["statename"] == "RUNNING" and info["pid"] != pid and cluster.all_up()

    result = under_load(cluster.front, "kill -9 of app1's client1", kill, recovered)
    assert_nothing_lost(result, cluster.explain)


def test_app2_cut_off_under_load(cluster: Cluster) -> None:
    """app2's link down: requests may fail only until haproxy marks its clients down; writes go on on app1
    while app2 is away (an app2 client cut off while it held the ZEO server's commit lock does not stall
    every writer: zeo.conf's transaction-timeout drops it); app2 returns by itself."""
    app2 = cluster.network.host("app2")
    app2_servers = [s for s in SERVERS if s.startswith("app2.")]

    def app2_down() -> bool:
        return all(cluster.servers()[s].startswith("DOWN") for s in app2_servers)

    def acked_writes_since(moment: float) -> int:
        return sum(1 for o in list(load.outcomes) if o.method == "POST" and o.ok and o.started >= moment)

    with Load(cluster.front, connections=16, seconds=240) as load:
        load.wait_for(40)
        cut = time.monotonic()
        try:
            with load.window():
                cluster.network.set_link(app2, False)
                poll_for(app2_down, 30, "haproxy marking app2's clients down", cluster.explain)
            marked = time.monotonic()
            poll_for(lambda: acked_writes_since(marked) >= 20, 60,
                     "20 writes started and acknowledged while app2 is cut off", cluster.explain)
            writing = time.monotonic()
        finally:
            cluster.network.set_link(app2, True)
        returned = time.monotonic()
        poll_for(cluster.all_up, 60, "app2's clients back in rotation", cluster.explain)
        back = time.monotonic()
        before = served(cluster)
        poll_for(lambda: all(served(cluster)[s] > before[s] for s in app2_servers), 60,
                 "app2's clients serving requests again", lambda: f"{before} -> {served(cluster)}")
    time.sleep(0.5)
    summary, writes = load.summary(), load.check_writes(stored_ids(cluster.front))
    zeo_log = (cluster.network.host("db1").site / "var" / "log" / "zeoserver.log").read_text()
    late = [o for o in load.outcomes if o.started >= marked and not o.ok]
    # the detection window's failures: requests in flight at the cut or started before app2 was marked down
    early = [o for o in load.outcomes if o.started < marked and o.ended >= cut and not o.ok]
    print(f"\napp2 cut off: marked down {marked - cut:.1f}s after the cut; {len(early)} requests failed that "
          f"were in flight at the cut or started before it was marked down ({summary.failed_in_window} of the "
          f"{summary.in_window} started in between); {len(late)} failed of those started after; 20 writes "
          f"acknowledged {writing - marked:.1f}s after it was marked down (the ZEO server dropped "
          f"{zeo_log.count('Connection timed out')} connection(s) of app2 as dead and "
          f"{zeo_log.count('Transaction timeout after')} holding the commit lock too long); back in rotation "
          f"{back - returned:.1f}s after its link returned; {summary.describe()}; {writes.describe()}")
    assert summary.in_window > 0
    assert not late, [(o.method, o.result) for o in late[:10]]
    assert writes.ok and writes.acked > 0, writes.describe()

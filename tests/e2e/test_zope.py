"""Real Zope clients (plone.recipe.zope2instance, pinned in profiles/zope.cfg) under sitestack.

The site is built in the background from the start of the session (tests/e2e/zope_build.py). Pages go
through varnish to the instances; kill -9 of an instance and a rolling restart under load lose no request.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from sitestack.control.processes import cmdline, uids
from e2e.conftest import Site
from e2e.site import Stack
from e2e.readload import Load, failures
from e2e.test_selfheal import pid_of, replaced
from e2e.zope_build import ZopeBuild
from zeo_server import server_connections
from support import http_get, poll_for

pytestmark = pytest.mark.e2e
INSTANCES = ("zeo-clients:instance1", "zeo-clients:instance2")
EXPECTED = {"zeo-cluster:zeo", *INSTANCES, "front:haproxy", "front:varnish", "watchdog:watchdog", "agent:agent"}


@pytest.fixture(scope="module")
def zope_site(request) -> Site:
    from conftest import ZOPE_BUILD

    build: ZopeBuild = request.config.stash[ZOPE_BUILD]
    waited = time.monotonic()
    path = build.wait()
    print(f"\nZope build: {build.seconds:.0f}s in the background; the test waited {time.monotonic() - waited:.0f}s")
    return Site(path, build.ports, build.top / "crontab.txt", build.top / "eggs")


@pytest.fixture(scope="module")
def zope_stack(zope_site: Site) -> Iterator[Stack]:
    stack = Stack(zope_site.path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def up(site: Site, server: str) -> bool:
    from sitestack.control.haproxy_runtime import RuntimeSocket

    state = RuntimeSocket(str(site.path / "var" / "haproxy" / "admin.sock"), "clients").servers().get(server)
    return bool(state and state.status.startswith("UP"))


def serving(site: Site, stack: Stack) -> bool:
    if not stack.all_running():
        return False
    if any(http_get(f"http://127.0.0.1:{site.ports.client(n)}/", timeout=5)[0] != 200 for n in (1, 2)):
        return False
    return all(up(site, name) for name in ("instance1", "instance2"))


@pytest.fixture
def ready(zope_site: Site, zope_stack: Stack) -> Stack:
    poll_for(lambda: serving(zope_site, zope_stack), 120, "both Zope instances serving", zope_stack.explain)
    return zope_stack


def front(site: Site) -> str:
    return f"http://127.0.0.1:{site.ports.varnish}/"


def test_a_zope_page_through_varnish_from_instances_run_as_the_site_user(zope_site, ready):
    assert {f"{i['group']}:{i['name']}" for i in ready.info()} == EXPECTED
    status, body, _ = http_get(front(zope_site) + "?first", timeout=10)
    assert status == 200 and "Zope" in body, body[:500]
    for name in INSTANCES:
        pid = pid_of(ready, name)
        owner = (uids(pid) or (-1, -1))[1]  # its effective user
        assert owner == (os.stat(zope_site.path / "var" / name.split(":")[1]).st_uid if os.geteuid() == 0 else os.geteuid())
    logs = zope_site.path / "var" / "log"
    assert (logs / "instance1-console.log").exists() and (logs / "instance2-console.log").exists()
    result = subprocess.run([str(zope_site.path / "bin" / "sitestack"), "status"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "instance1" in result.stdout, result.stdout + result.stderr
    # the ZEO server is sitestack's runner on plone.recipe.zeoserver's zeo.conf (bin/zeo-server): its
    # connections to the instances carry the keepalive timer of --dead-client-timeout
    assert str(zope_site.path / "bin" / "zeo-server") in cmdline(pid_of(ready, "zeo-cluster:zeo"))
    sockets = server_connections(zope_site.ports.zeoserver)
    assert sockets and all("timer:(keepalive" in line for line in sockets), sockets


def test_b_kill_9_of_a_zope_instance_loses_no_request(zope_site, ready):
    old = pid_of(ready, INSTANCES[0])
    with Load(front(zope_site), bust=True) as load:
        time.sleep(1)
        os.kill(old, signal.SIGKILL)
        replaced(ready, INSTANCES[0], old, 60)
        poll_for(lambda: serving(zope_site, ready), 120, "both instances serving again", ready.explain)
        time.sleep(1)
    print(f"\nZope kill -9: {load.report()}")
    assert len(load.results) > 50 and not load.failed, failures(zope_site, load)


def test_c_rolling_restart_of_zope_instances_loses_no_request(zope_site, ready):
    old = {name: pid_of(ready, name) for name in INSTANCES}
    with Load(front(zope_site), bust=True) as load:
        time.sleep(1)
        result = subprocess.run([str(zope_site.path / "bin" / "sitestack"), "rolling-restart"],
                                capture_output=True, text=True, timeout=300)
        time.sleep(1)
    print(f"\nZope rolling restart: {load.report()}\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr
    new = {name: pid_of(ready, name) for name in INSTANCES}
    assert all(new[name] not in (0, old[name]) for name in INSTANCES), (old, new)
    ready.seen_pids.update(new.values())
    assert len(load.results) > 50 and not load.failed, failures(zope_site, load)

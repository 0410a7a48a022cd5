"""varnishd compiles every generated VCL, and the real front (varnish -> haproxy -> 2 servers) works."""

from __future__ import annotations

import os
import stat
import subprocess
from http.client import HTTPMessage
from pathlib import Path

import pytest
from buildout_harness import install, site_buildout
from front_stack import Backend, request, server_status, start, site  # noqa: F401 - site: a pytest fixture
from support import free_port, kill_pids, poll_for, tail

from sitestack.control.processes import uids
from sitestack.recipes import haproxy, varnish
from sitestack.recipes.system import user_ids

VARIANTS = {
    "default": {"backend": "127.0.0.1:8090"},
    "ipv6": {"backend": "[::1]:8090", "host": "::1", "purge-allow": "::1 fd00::/8"},
    "networks": {"backend": "127.0.0.1:8090", "purge-allow": "127.0.0.1 10.0.0.0/8 192.168.1.7 172.16.0.0/12"},
    "tuned": {
        "backend": "127.0.0.1:9000",
        "probe-path": "/lb/alive?x=1",
        "interval": "250ms",
        "timeout": "100ms",
        "window": "64",
        "threshold": "64",
        "connect-timeout": "500ms",
        "first-byte-timeout": "5m",
        "between-bytes-timeout": "1h",
        "default-ttl": "1d",
    },
}



@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_varnishd_compiles_the_vcl(site: Path, variant: str) -> None:
    buildout = site_buildout(site, varnish=VARIANTS[variant])
    recipe = varnish.Recipe(buildout, "varnish", buildout["varnish"])
    install(recipe)
    binary = recipe.options["varnish-command"].split()[0]
    # -C writes the generated C to stderr; only the exit code and the compiler's message matter.
    result = subprocess.run(
        [binary, "-C", "-f", recipe.options["vcl"], "-n", str(site / "compile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "VCC-compiler" not in result.stderr


def test_front_caches_purges_and_survives_a_dead_client(site: Path) -> None:
    """varnishd -F in front of haproxy -db in front of two loopback servers, all from the published commands."""
    backends = [Backend("client1"), Backend("client2")]
    buildout = site_buildout(site, haproxy={"servers": " ".join(f"{b.name}={b.address}" for b in backends),
                                            "port": str(free_port())})
    lb = buildout["haproxy"]
    install(haproxy.Recipe(buildout, "haproxy", lb))
    port, admin_port = free_port(), free_port()
    # varnish's backend is the address the haproxy part published, substituted by buildout
    buildout["varnish"] = {"backend": "${haproxy:address}", "port": str(port), "admin-port": str(admin_port)}
    cache = buildout["varnish"]
    install(varnish.Recipe(buildout, "varnish", cache))
    logs = {"haproxy": site / "haproxy.log", "varnish": site / "varnish.log"}

    def explain() -> str:
        return "\n".join(tail(log) for log in logs.values())

    sock = lb["stats-socket"]
    pids: list[int] = []
    try:
        for backend in backends:
            backend.start()
        pids.append(start(lb["haproxy-command"], logs["haproxy"], cwd=lb["haproxy-directory"]).pid)
        poll_for(lambda: set(server_status(sock).values()) == {"UP"}, 10, "both clients up in haproxy", explain)
        process = start(cache["varnish-command"], logs["varnish"], cwd=cache["varnish-directory"])
        pids.append(process.pid)

        def get(path: str) -> tuple[int, HTTPMessage, str]:
            return request("127.0.0.1", port, "GET", path)

        poll_for(lambda: get("/")[0] == 200, 30, "varnish answering through haproxy", explain)

        status, headers, body = get("/page")
        assert (status, headers["X-Cache"]) == (200, "MISS")
        status, headers, again = get("/page")
        assert (status, headers["X-Cache"], again) == (200, "HIT", body), "cached for default-ttl"

        assert request("127.0.0.1", port, "PURGE", "/page")[0] == 200
        assert get("/page")[1]["X-Cache"] == "MISS", "purged"
        status, _, _ = request("127.0.0.1", port, "PURGE", "/page", source="127.0.0.2")
        assert status == 403, "127.0.0.2 is not in the default purge ACL (127.0.0.1 and ::1)"
        assert get("/page")[1]["X-Cache"] == "HIT", "a refused purge purges nothing"

        hits = sum(b.hits for b in backends)
        status, headers, body = request("127.0.0.1", port, "POST", "/form", body=b"a=1")
        assert (status, headers["X-Cache"], body.split()[1]) == (200, "MISS", "POST")
        assert sum(b.hits for b in backends) == hits + 1, "POST passed to a client"
        assert [get("/haproxy-health")[1]["X-Cache"] for _ in range(2)] == ["MISS", "MISS"], "health never cached"

        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        secret = Path(cache["secret-file"])
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600

        def varnishadm(*command: str) -> str:
            argv = ["varnishadm", "-T", f"127.0.0.1:{admin_port}", "-S", str(secret), *command]
            return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout

        assert "Child in state running" in varnishadm("status")

        # Real probes of haproxy's monitor URI succeed: a full window of good ones.
        def probe() -> list[str]:
            return varnishadm("backend.list").splitlines()[1].split()[2:4]

        poll_for(lambda: probe() == ["3/3", "healthy"], 10, "varnish probing haproxy healthy", explain)
        # started as root, the manager keeps its effective uid at the jail user's; started by anyone
        # else it stays that user's (asserted either way, never skipped silently)
        jail = user_ids(varnish.JAIL_USER) if os.geteuid() == 0 else None
        assert _effective_uid(process.pid) == (jail[0] if jail else os.geteuid())

        backends[0].stop()
        poll_for(lambda: server_status(sock)["client1"].startswith("DOWN"), 10, "client1 DOWN in haproxy", explain)
        for i in range(6):
            status, headers, body = get(f"/fresh{i}")
            assert (status, headers["X-Cache"], body.split()[0]) == (200, "MISS", "client2")
    finally:
        kill_pids(pids)
        for backend in backends:
            backend.stop()


def _effective_uid(pid: int) -> int:
    found = uids(pid)
    assert found is not None, f"process {pid} is gone"
    return found[1]

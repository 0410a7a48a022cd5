"""haproxy itself accepts every generated config, and a real run behaves as configured."""

from __future__ import annotations

import functools
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from buildout_harness import install, site_buildout
from front_stack import Backend, assert_haproxy_accepts, request, server_status, start, site  # noqa: F401 - site: a pytest fixture
from support import free_port, http_get, kill_pids, pid_alive, poll_for, tail

from sitestack.control.requests import NO_RING, show
from sitestack.recipes.haproxy import Recipe


def servers(count: int, first_port: int = 18081) -> str:
    return "\n".join(f"client{i}=127.0.0.1:{first_port + i - 1}" for i in range(1, count + 1))


VARIANTS = {
    "default": {"servers": servers(2)},
    "one-server": {"servers": servers(1)},
    "five-servers": {"servers": servers(5)},
    "ipv6": {"servers": "a=[::1]:18081 b=127.0.0.1:18082", "host": "::1"},
    "tuned": {
        "servers": servers(3),
        "health-path": "/ok?deep=1",
        "host": "0.0.0.0",
        "port": "9091",
        "maxconn": "1",
        "global-maxconn": "4096",
        "check-interval": "250ms",
        "rise": "3",
        "fall": "5",
        "retries": "0",
        "timeout-connect": "500ms",
        "timeout-client": "2m",
        "timeout-server": "1h",
        "timeout-queue": "5s",
        "monitor-uri": "/lb/alive",
    },
}



@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_haproxy_accepts_the_config(site: Path, variant: str) -> None:
    buildout = site_buildout(site, haproxy=VARIANTS[variant])
    recipe = Recipe(buildout, "haproxy", buildout["haproxy"])
    install(recipe)
    assert_haproxy_accepts(recipe.options["haproxy-command"], recipe.options["config"])


def test_real_haproxy_checks_fails_over_and_takes_a_client_back(site: Path) -> None:
    """Two loopback servers behind haproxy -db: down detection, failover, return, socket mode, soft stop."""
    backends = [Backend("client1"), Backend("client2")]
    port = free_port()
    buildout = site_buildout(site, haproxy={"servers": " ".join(f"{b.name}={b.address}" for b in backends),
                                            "port": str(port)})
    options = buildout["haproxy"]
    recipe = Recipe(buildout, "haproxy", options)
    install(recipe)
    log = site / "haproxy.log"
    sock = options["stats-socket"]
    pids: list[int] = []
    try:
        for backend in backends:
            backend.start()
        process = start(options["haproxy-command"], log, cwd=options["haproxy-directory"])
        pids.append(process.pid)
        explain = functools.partial(tail, log)
        monitor = f"http://127.0.0.1:{port}/haproxy-health"
        poll_for(lambda: http_get(monitor)[0] == 200, 10, "haproxy's monitor URI", explain)
        poll_for(lambda: set(server_status(sock).values()) == {"UP"}, 10, "both clients up", explain)

        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert stat.S_IMODE((site / "var" / "haproxy").stat().st_mode) == 0o700
        seen = {request("127.0.0.1", port, "GET", f"/page{i}")[1]["X-Backend"] for i in range(6)}
        assert seen == {"client1", "client2"}, "leastconn spreads sequential requests over both"

        backends[0].stop()
        stopped = time.monotonic()
        poll_for(lambda: server_status(sock)["client1"].startswith("DOWN"), 10, "client1 marked DOWN", explain)
        detected = time.monotonic() - stopped
        # fall=2 checks every inter=1s: two failed checks, the first up to 1s after the stop.
        assert detected < 3.5, f"down detection took {detected:.1f}s"
        for i in range(6):
            status, headers, _ = request("127.0.0.1", port, "GET", f"/after{i}")
            assert (status, headers["X-Backend"]) == (200, "client2")
        assert http_get(monitor)[0] == 200, "one client up is enough for the monitor URI"

        backends[1].stop()
        poll_for(lambda: http_get(monitor)[0] == 503, 10, "monitor URI failing with no client up", explain)

        backends[0].start()
        returned = time.monotonic()
        poll_for(lambda: server_status(sock)["client1"] == "UP", 10, "client1 back UP", explain)
        back_up = time.monotonic() - returned
        assert back_up < 2.5, f"return took {back_up:.1f}s"  # rise=1: the next check
        assert request("127.0.0.1", port, "GET", "/back")[1]["X-Backend"] == "client1"
        assert http_get(monitor)[0] == 200
        print(f"\nhaproxy: client down detected after {detected:.2f}s, back up after {back_up:.2f}s")

        # supervisord stops haproxy with USR1 (soft stop): it stops listening and exits when idle.
        os.kill(process.pid, signal.SIGUSR1)
        poll_for(lambda: not pid_alive(process.pid), 10, "haproxy exiting on USR1", explain)
    finally:
        kill_pids(pids)
        for backend in backends:
            backend.stop()


@pytest.mark.parametrize("mode", ["errors", "ring", "all"])
def test_request_log_modes_write_what_they_say(site: Path, mode: str) -> None:
    """errors: a fast 200 leaves no line, a slow one and a 503 do; ring keeps every request; all logs all."""
    backend = Backend("client1")
    port = free_port()
    buildout = site_buildout(site, haproxy={"servers": f"client1={backend.address}", "port": str(port),
                                            "request-log": mode, "slow-request": "300ms", "threads": "2"})
    options = buildout["haproxy"]
    recipe = Recipe(buildout, "haproxy", options)
    install(recipe)
    log = site / "haproxy.log"
    sock = options["stats-socket"]
    pids: list[int] = []
    try:
        backend.start()
        process = start(options["haproxy-command"], log, cwd=options["haproxy-directory"])
        pids.append(process.pid)
        explain = functools.partial(tail, log)
        poll_for(lambda: server_status(sock).get("client1") == "UP", 10, "client1 up", explain)
        assert request("127.0.0.1", port, "GET", "/fast-page")[0] == 200
        assert request("127.0.0.1", port, "GET", "/slow-page")[0] == 200
        backend.stop()
        poll_for(lambda: server_status(sock)["client1"].startswith("DOWN"), 10, "client1 down", explain)
        assert request("127.0.0.1", port, "GET", "/while-down")[0] == 503
        # haproxy logs a request once it has sent the answer: the line may follow it by a moment
        poll_for(lambda: "/while-down" in log.read_text(), 5, "the 503 in haproxy's log", explain)
        if mode == "ring":
            poll_for(lambda: "/while-down" in show(sock)[0], 5, "the 503 in the ring", explain)
        ring, status = show(sock)
        assert status == (0 if mode == "ring" else 1), ring
        written = log.read_text()
        assert ("GET /fast-page" in written) == (mode == "all"), written
        assert "GET /slow-page" in written, written
        if mode == "ring":
            lines = [line for line in ring.splitlines() if '"GET /' in line]
            assert [line.split('"GET ')[1].split()[0] for line in lines] == ["/fast-page", "/slow-page", "/while-down"]
        else:
            assert ring == NO_RING
    finally:
        kill_pids(pids)
        backend.stop()

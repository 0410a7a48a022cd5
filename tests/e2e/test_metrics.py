"""The exporter on the real stack, scraped by a real Prometheus (Debian's), asked through its HTTP API.

One test, one stack: the series are all there and hold no secret; Prometheus (scrape interval 1s, the
alert rules rendered with a 2s `for:`) sees client1's crash counter go up by one after kill -9, and
SitestackClientDown fire while client1 stays stopped.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from e2e.test_workers import post_note
from sitestack.recipes.convert import Duration
from sitestack.recipes.exporter import Exporter, render_alert_rules, render_prometheus_config
from support import free_port, scrape, http_get, kill_pids, pid_alive, poll_for, tail

pytestmark = pytest.mark.e2e
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def zeo_clients(port: int) -> list:
    return [c for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port]


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def prometheus(site, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus on a free loopback port, scraping the site's exporter every second."""
    exporter = Exporter("127.0.0.1", site.ports.exporter, scrape_interval=Duration(1000), alert_after=Duration(2000))
    rules, config = tmp_path / "alerts.yml", tmp_path / "prometheus.yml"
    rules.write_text(render_alert_rules(exporter))
    config.write_text(render_prometheus_config(exporter, str(rules)))
    port, log = free_port(), tmp_path / "prometheus.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        poll_for(lambda: http_get(f"{url}/-/ready", timeout=2)[0] == 200, 30, "Prometheus ready",
                 lambda: tail(log))
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            kill_pids([process.pid])
        assert not pid_alive(process.pid)


def query(url: str, promql: str) -> list[dict]:
    status, body, _ = http_get(f"{url}/api/v1/query?query={urllib.parse.quote(promql)}", timeout=5)
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def crashes(url: str) -> float | None:
    found = query(url, 'sitestack_program_restarts_total{program="client1",cause="crash"}')
    return float(found[0]["value"][1]) if found else None


def test_prometheus_sees_crashes_and_alerts(site, stack, prometheus):
    poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
    samples = poll_for(lambda: (s := scrape(site.ports.exporter)) and value(s, "sitestack_queue_up") == 1 and s,
                       30, "the exporter answering with the queue read", stack.explain, interval=0.5)
    samples = scrape(site.ports.exporter)  # the exporter's own ZEO connection is made by its first full scrape
    # the series the issue asks for, from every source
    for program, group in (("client1", "zeo-clients"), ("zeoserver", "zeo-cluster"), ("varnish", "front"),
                           ("worker_00", "workers"), ("watchdog", "watchdog")):
        assert value(samples, "sitestack_program_up", program=program, group=group) == 1, program
    assert value(samples, "sitestack_program_rss_bytes", program="client1", group="zeo-clients") > 10 * 2**20
    assert value(samples, "sitestack_program_memory_quota_bytes", program="client1", group="zeo-clients") == 800 * 2**20
    assert value(samples, "sitestack_client_health_ok", program="client2", group="zeo-clients") == 1
    assert value(samples, "sitestack_haproxy_server_state", backend="clients", server="client1", state="UP") == 1
    # VBE.<vcl>.haproxy.happy: the VCL's name changes with each vcl.load, so any VCL's haproxy backend
    happy = [v for (name, labels), v in samples.items()
             if name == "sitestack_varnish_backend_happy" and dict(labels)["backend"].endswith(".haproxy")]
    assert happy and all(v == 1 for v in happy), happy
    # as many as the clients' side of the TCP connections to the ZEO port (the exporter's own among them)
    assert value(samples, "sitestack_zeo_connected_clients") == len(zeo_clients(site.ports.zeoserver)) >= 3
    assert value(samples, "sitestack_zeo_storage_bytes") > 0
    assert value(samples, "sitestack_queue_jobs_pending") is not None
    assert all(v == 1 for (name, _), v in samples.items() if name == "sitestack_exporter_collector_success")
    # no secret: supervisor's control password and varnish's secret never appear
    _, text, _ = http_get(f"http://127.0.0.1:{site.ports.exporter}/metrics")
    for secret in (site.path / "var" / "supervisor" / "control-password", site.path / "var" / "varnish" / "secret"):
        if secret.exists() and secret.read_text().strip():
            assert secret.read_text().strip() not in text
    assert subprocess.run([PROMTOOL, "check", "config", str(site.path / "parts" / "exporter" / "prometheus.yml")],
                          capture_output=True, text=True).returncode == 0

    # the worker queue: two saved notes queue two jobs, which the workers finish
    done = value(samples, "sitestack_queue_jobs_done_total")
    for text in ("metrics one", "metrics two"):
        post_note(site.ports.client(2), text)
    poll_for(lambda: value(scrape(site.ports.exporter), "sitestack_queue_jobs_done_total") == done + 2, 30,
             f"{done} + 2 jobs done in the exporter's figures", stack.explain, interval=0.5)

    # kill -9: supervisor restarts client1 and Prometheus sees the crash counter go up by one
    before = poll_for(lambda: crashes(prometheus) is not None and (crashes(prometheus),), 30,
                      "client1's crash counter in Prometheus", interval=0.5)[0]
    rpc = stack.rpc()
    pid = rpc.supervisor.getProcessInfo("zeo-clients:client1")["pid"]
    os.kill(pid, signal.SIGKILL)
    poll_for(lambda: crashes(prometheus) == before + 1, 30, f"crash counter {before} + 1 in Prometheus",
             lambda: f"now {crashes(prometheus)}\n{stack.explain()}", interval=0.5)
    time.sleep(2)
    assert crashes(prometheus) == before + 1  # one kill, one crash, not more

    # client1 stays down: the alert fires after its `for:` (2s here), client2's does not
    poll_for(lambda: rpc.supervisor.getProcessInfo("zeo-clients:client1")["statename"] == "RUNNING", 30,
             "client1 RUNNING again", stack.explain)
    rpc.supervisor.stopProcess("zeo-clients:client1")
    firing = 'ALERTS{alertname="SitestackClientDown",alertstate="firing"}'
    alerts = poll_for(lambda: query(prometheus, firing), 30, "SitestackClientDown firing", interval=0.5)
    assert [a["metric"]["program"] for a in alerts] == ["client1"]
    # haproxy's view and the watchdog's checks of the client still up (it judges none in a start's first 10s)
    poll_for(lambda: query(prometheus, 'sitestack_haproxy_server_in_rotation{server="client1"} == 0'), 20,
             "client1 out of rotation in Prometheus", interval=0.5)
    checks = poll_for(lambda: query(prometheus, 'sitestack_watchdog_check_seconds_count{program="client2"} > 0'),
                      30, "the watchdog's checks of client2 in Prometheus", interval=0.5)
    # client2 took all the traffic meanwhile: on a busy machine a check of it may time out now and then,
    # so the figures are compared, not pinned to zero
    failed = float(query(prometheus, 'sitestack_watchdog_checks_failed_total{program="client2"}')[0]["value"][1])
    made = float(query(prometheus, 'sitestack_watchdog_checks_total{program="client2"}')[0]["value"][1])
    assert 0 <= failed < made, (failed, made)
    assert len(checks) == 1

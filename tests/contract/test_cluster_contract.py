"""haproxy accepts the front's config of a three-role cluster: every client of both app hosts, at its
host's address, asked about through that host's agent."""
from __future__ import annotations

import subprocess
from pathlib import Path

from fake_buildout import FakeOptions, fake_buildout, open_directory
from support import check_golden

from recipes.cluster import Recipe as Cluster
from recipes.haproxy import Recipe as Haproxy

HOSTS = """
    db     10.77.0.1  db
    app1   10.77.0.2  app
    app2   10.77.0.3  app
    front  10.77.0.4  front
"""


def front_config(site: Path) -> Haproxy:
    """The front host's haproxy part as profiles/front.cfg wires it."""
    cluster = FakeOptions(hosts=HOSTS, role="front", clients="2", **{"client-port": "8081", "zeo-port": "8100"})
    Cluster({"host": {"name": "front"}}, "cluster", cluster)
    options = FakeOptions(servers=cluster["servers"], host=cluster["address"], port="8070",
                          **{"health-path": "/health", "agent-port": "9190", "threads": "1"})
    return Haproxy(fake_buildout(site), "haproxy", options)


def test_haproxy_accepts_the_fronts_config_of_a_three_role_cluster() -> None:
    with open_directory() as site:
        recipe = front_config(site)
        recipe.install()
        result = subprocess.run([recipe.options["haproxy-command"].split()[0], "-c", "-f", recipe.options["config"]],
                                capture_output=True, text=True, timeout=30, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "WARNING" not in output and "ALERT" not in output, output
        # the whole file: four servers at their hosts' addresses, each with its agent-check
        check_golden("haproxy-cluster-front.cfg", recipe.text.replace(str(site), "<site>"))

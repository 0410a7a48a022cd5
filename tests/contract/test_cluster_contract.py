"""haproxy accepts the front's config of a three-role cluster: every client of both app hosts, at its
host's address, asked about through that host's agent."""
from __future__ import annotations

import subprocess
from pathlib import Path

from buildout_harness import install, site_buildout
from support import check_golden, open_directory

from sitestack.recipes.cluster import Recipe as Cluster
from sitestack.recipes.haproxy import Recipe as Haproxy

HOSTS = """
    db     10.77.0.1  db
    app1   10.77.0.2  app
    app2   10.77.0.3  app
    front  10.77.0.4  front
"""


def front_config(site: Path) -> Haproxy:
    """The front host's haproxy part as profiles/front.cfg wires it."""
    buildout = site_buildout(site, host={"name": "front"}, cluster={
        "hosts": HOSTS, "role": "front", "clients": "2", "client-port": "8081", "zeo-port": "8100"})
    Cluster(buildout, "cluster", buildout["cluster"])
    buildout.add({"haproxy": {"servers": "${cluster:servers}", "host": "${cluster:address}", "port": "8070",
                              "health-path": "/health", "agent-port": "9190", "threads": "1"}})
    return Haproxy(buildout, "haproxy", buildout["haproxy"])


def test_haproxy_accepts_the_fronts_config_of_a_three_role_cluster() -> None:
    with open_directory() as site:
        recipe = front_config(site)
        install(recipe)
        result = subprocess.run([recipe.options["haproxy-command"].split()[0], "-c", "-f", recipe.options["config"]],
                                capture_output=True, text=True, timeout=30, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "WARNING" not in output and "ALERT" not in output, output
        # the whole file: four servers at their hosts' addresses, each with its agent-check
        check_golden("haproxy-cluster-front.cfg", recipe.text.replace(str(site), "<site>"))

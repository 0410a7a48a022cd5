"""Parts that publish programs the way sitestack's parts do, for the supervisor part's tests: the default
stack's zeoserver, clients and front parts with fixed paths (tests/buildout_harness.py's buildout)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from buildout_harness import SiteBuildout, site_buildout

from sitestack.listeners.command_line import parse_command_line
from sitestack.listeners.ruleset import describe, ruleset
from sitestack.recipes.address import Address
from sitestack.recipes.description import Site
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.supervisor import Recipe, site_description


def published(buildout: SiteBuildout, name: str, programs: Sequence[PublishedProgram]) -> None:
    """Add part `name` to the buildout, publishing these programs."""
    buildout[name] = {"recipe": f"sitestack:{name}"}
    publish(buildout[name], list(programs))


def stack_buildout(tmp_path: Path, **supervisor: str) -> SiteBuildout:
    buildout = site_buildout(tmp_path, supervisor=dict(supervisor))
    published(buildout, "zeoserver", [
        PublishedProgram("zeoserver", "/srv/bin/zeoserver", "/srv/parts/zeoserver", 10, "zeo-cluster")])
    published(buildout, "clients", [
        PublishedProgram(f"client{i}", f"/srv/bin/client{i}", f"/srv/parts/clients/client{i}", 20, "zeo-clients",
                         health_url=f"http://127.0.0.1:808{i}/health", memory_quota=800 * 1024**2,
                         address=Address("127.0.0.1", 8080 + i), watchdog=True)
        for i in (1, 2)])
    published(buildout, "front", [
        PublishedProgram("haproxy", "/usr/sbin/haproxy -W -db -f /srv/parts/haproxy/haproxy.cfg", "/srv",
                         30, "front", health_url="http://127.0.0.1:8070/haproxy-health"),
        PublishedProgram("varnish", "/usr/sbin/varnishd -F", "/srv", 40, "front")])
    return buildout


def watchdog_of(recipe: Recipe) -> tuple[str, str]:
    """The default watchdog's command in supervisord.conf, and the rules it reads from the site.json the
    part writes, as the watchdog's log says them (its own command-line grammar)."""
    [command] = [e.command for e in recipe.config.listeners if e.name == "watchdog"]
    text = site_description(recipe.paths.directory, recipe.conf, recipe.config, None, watchdog=recipe.watchdog_rules)
    return command, describe(ruleset(parse_command_line(["--site", str(recipe.site_json)]), Site.loads(text)))

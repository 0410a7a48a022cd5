"""The exporter part (sitestack:exporter): the site's Prometheus exporter under supervisor, and next to it
a scrape config and alert rules for Prometheus (parts/<part>/prometheus.yml, parts/<part>/alerts.yml).

The exporter is an event listener (PROCESS_STATE_EXITED: it counts crashes) that serves /metrics on
host:port, loopback unless `public = true` says a wider bind is meant.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.adapter import Paths, created, egg_scripts, user_errors
from sitestack.recipes.errors import Invalid
from sitestack.recipes.files import ensure_directory, write_if_changed
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.render import render
from sitestack.recipes.system import EXTRA_PATH, find_binary

OPTIONS = (
    "host", "port", "public", "site-json", "varnish-workdir", "varnishstat", "zeo-address", "zeo-storage",
    "timeout", "priority", "job", "scrape-interval", "alert-after", "eggs",
)
EGGS = ("prometheus-client", "psutil", "supervisor", "ZEO", "ZODB", "waitress")  # sitestack.worker.queue: via appserver
EVENTS = "PROCESS_STATE_EXITED"


@dataclass(frozen=True)
class Exporter:
    """Where the exporter listens and what Prometheus is told about it."""

    host: str
    port: int
    job: str = "sitestack"
    scrape_interval: convert.Duration = convert.Duration(15_000)
    alert_after: convert.Duration = convert.Duration(60_000)

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


def render_prometheus_config(exporter: Exporter, rules: str) -> str:
    """A whole prometheus.yml that scrapes the exporter and loads the alert rules."""
    return render("prometheus.yml.j2", exporter=exporter, rules=rules)


def render_alert_rules(exporter: Exporter) -> str:
    """The alert rules (Prometheus rule file)."""
    return render("prometheus-alerts.yml.j2", exporter=exporter)


def _timeout(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 60:
        raise Invalid("expected a number of seconds from 0.1 to 60")
    return value


def read_exporter(reader: OptionReader) -> Exporter:
    """host, port, public and the Prometheus options, checked; a non-loopback host needs public = true."""
    host = reader.get("host", convert.host, "127.0.0.1")
    if not convert.is_loopback(host) and not reader.get("public", convert.boolean, False):
        reader.problem("host", "the metrics endpoint binds loopback unless you say `public = true` as well",
                       reader.raw("host").strip())
    return Exporter(
        host=host,
        port=reader.get("port", convert.port, 9180),
        job=reader.get("job", convert.name, "sitestack"),
        scrape_interval=reader.get("scrape-interval", convert.duration, convert.Duration(15_000)),
        alert_after=reader.get("alert-after", convert.duration, convert.Duration(60_000)),
    )


class Recipe:
    """zc.buildout adapter: read options, publish the exporter, write bin/<part> and the Prometheus files."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.exporter = read_exporter(reader)
            site_json = reader.get("site-json", convert.single_line,
                                   str(self.paths.parts / "supervisor" / "site.json"))
            arguments = ["--site", site_json, "--listen", str(self.exporter.address), "--events",
                         "--timeout", f"{reader.get('timeout', _timeout, 2.0):g}"]
            if reader.has("varnish-workdir"):
                arguments += ["--varnish-workdir", reader.get("varnish-workdir", convert.single_line, ""),
                              "--varnishstat", self._varnishstat(reader)]
            if reader.has("zeo-address"):
                zeo = reader.get("zeo-address", convert.address, Address("127.0.0.1", 8100))
                arguments += ["--zeo", str(zeo),
                              "--zeo-storage", reader.get("zeo-storage", convert.single_line, "")]
            priority = reader.get("priority", convert.priority, 50)
            self.eggs = [*EGGS, *reader.raw("eggs").split()]
            reader.done()
        self.arguments = arguments
        self.directory = self.paths.parts / name
        self.prometheus_yml = self.directory / "prometheus.yml"
        self.alerts_yml = self.directory / "alerts.yml"
        options["address"] = str(self.exporter.address)
        options["url"] = f"http://{self.exporter.address}/metrics"
        options["prometheus-config"] = str(self.prometheus_yml)
        options["alert-rules"] = str(self.alerts_yml)
        publish(options, [PublishedProgram(
            name=name, command=str(self.paths.bin / name), directory=str(self.directory), priority=priority,
            group="", address=self.exporter.address, kind="eventlistener", events=EVENTS,
            # events wait here while a scrape holds the interpreter; supervisor drops the oldest beyond it
            settings=(("buffer_size", "100"),),
        )])

    @staticmethod
    def _varnishstat(reader: OptionReader) -> str:
        text = reader.raw("varnishstat").strip() or "varnishstat"
        # Debian keeps varnishstat in /usr/bin: found even when PATH is cron's or a bare one
        search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/local/bin", "/usr/bin", *EXTRA_PATH])
        try:
            return find_binary(text, "varnish", search)
        except Invalid as error:
            reader.problem("varnishstat", str(error), text)
            return text

    def install(self) -> list[str]:
        paths = created(self.options, self.directory)
        ensure_directory(self.directory)
        write_if_changed(self.alerts_yml, render_alert_rules(self.exporter))
        write_if_changed(self.prometheus_yml, render_prometheus_config(self.exporter, str(self.alerts_yml)))
        paths += egg_scripts(self.buildout, self.eggs, [(self.name, "sitestack.exporter.main", "main")],
                             initialization=f"sys.argv[1:1] = {self.arguments!r}")
        return paths

    update = install


__all__ = ["Recipe", "Exporter", "render_prometheus_config", "render_alert_rules"]

"""The edge part: a haproxy on the site's public address in front of varnish, which replays a request
that varnish's cache process died holding (kill -9, a crash) once varnish listens again.

Opt-in (profiles/edge.cfg): it costs one more haproxy hop on every request. It is its own haproxy,
not the balancer, so a crash of the balancer stays hidden by varnish's own retries. It replays only
what the balancer replays: GET and HEAD, and writes that carry an Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.adapter import Paths, user_errors
from sitestack.recipes.address import Address
from sitestack.recipes.convert import Duration
from sitestack.recipes.description import EDGE_BACKEND
from sitestack.recipes.haproxy import request_log, threads
from sitestack.recipes.haproxy_master import check_config, check_socket_path, install_master, publish_master, \
    read_master
from sitestack.recipes.options import OptionReader
from sitestack.recipes.render import render
from sitestack.recipes.varnish import read_networks

OPTIONS = (
    "backend", "host", "port", "retries", "timeout-connect", "timeout-client", "timeout-server",
    "global-maxconn", "threads", "request-log", "slow-request", "monitor-uri", "purge-allow",
    "priority", "group", "binary", "user",
)  # fmt: skip
DEFAULT_PURGE_ALLOW = ("127.0.0.1/32", "::1/128")  # the varnish part's default purge-allow


@dataclass(frozen=True)
class EdgeTimeouts:
    # haproxy waits min(connect, 1s) before it tries a refused connection again: the pause between
    # two attempts while varnish's manager starts a new cache process (about 0.1-1 s)
    connect: Duration = Duration(250)
    client: Duration = Duration(60_000)
    # longer than varnish's first-byte-timeout (60s): varnish's own answer comes first
    server: Duration = Duration(70_000)


@dataclass(frozen=True)
class Edge:
    """Everything the edge's haproxy.cfg says."""

    backend: Address
    stats_socket: str
    host: str = "127.0.0.1"
    port: int = 8080
    # attempts on varnish after the first: retries x timeouts.connect covers a cache process restart
    retries: int = 20
    timeouts: EdgeTimeouts = EdgeTimeouts()
    global_maxconn: int = 2000
    threads: int = 1
    request_log: str = "errors"
    slow_request: Duration = Duration(1000)
    monitor_uri: str = "/edge-health"
    # varnish sees every request coming from the edge: PURGE passes only from these (varnish's ACL)
    purge_allow: tuple[str, ...] = DEFAULT_PURGE_ALLOW

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


def render_edge_cfg(part: str, edge: Edge) -> str:
    """The edge's haproxy configuration file."""
    return render("edge.cfg.j2", part=part, haproxy=edge, backend=EDGE_BACKEND)


def read_edge(reader: OptionReader, stats_socket: str) -> Edge:
    """The model from a section's options; problems collect on the reader."""
    before = len(reader.problems)
    backend = reader.require("backend", convert.address) or Address("127.0.0.1", 8080)
    host = reader.get("host", convert.host, "127.0.0.1")
    port = reader.get("port", convert.port, 8080)
    if len(reader.problems) == before and backend == Address(host, port):
        reader.problem("backend", "must not be the edge's own address (host and port)", reader.raw("backend").strip())
    check_socket_path(reader, stats_socket)
    allow = tuple(read_networks(reader, "purge-allow"))
    return Edge(
        backend=backend,
        stats_socket=stats_socket,
        host=host,
        port=port,
        retries=reader.get("retries", lambda text: convert.integer(text, 0, 100), 20),
        timeouts=EdgeTimeouts(
            connect=reader.get("timeout-connect", convert.duration, Duration(250)),
            client=reader.get("timeout-client", convert.duration, Duration(60_000)),
            server=reader.get("timeout-server", convert.duration, Duration(70_000)),
        ),
        global_maxconn=reader.get("global-maxconn", lambda text: convert.integer(text, 1), 2000),
        threads=reader.get("threads", threads, threads("auto")),
        request_log=reader.get("request-log", request_log, "errors"),
        slow_request=reader.get("slow-request", convert.duration, Duration(1000)),
        monitor_uri=reader.get("monitor-uri", convert.url_path, "/edge-health"),
        purge_allow=allow or DEFAULT_PURGE_ALLOW,
    )


class Recipe:
    """zc.buildout adapter: read options, check the config with haproxy -c, publish the program, write."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.name, self.options = name, options
        paths = Paths(buildout)
        self.socket_dir = paths.var / name
        # the master's working directory: one bin/buildout never removes (see the haproxy part)
        self.home = paths.directory
        self.config = paths.parts / name / "haproxy.cfg"
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.edge = read_edge(reader, str(self.socket_dir / "admin.sock"))
            self.master = read_master(reader, self.config, 50)
            reader.done()
            self.text = render_edge_cfg(name, self.edge)
            # before anything is written: a config haproxy refuses never reaches the running edge
            check_config(self.master.binary, self.text)
        self.user = self.master.user
        publish_master(options, name, self.master, self.config, self.home, self.edge.address,
                       self.edge.monitor_uri, self.edge.stats_socket)

    def install(self) -> list[str]:
        return install_master(self.options, self.config, self.socket_dir, self.user, self.text)

    update = install

"""The haproxy part: one backend of health-checked app clients behind a loopback frontend."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.adapter import Paths, user_errors
from sitestack.recipes.address import Address
from sitestack.recipes.convert import Duration
from sitestack.recipes.errors import ConfigError, Invalid, Problem
from sitestack.recipes.haproxy_master import check_config, check_socket_path, install_master, publish_master, \
    read_master
from sitestack.recipes.options import OptionReader
from sitestack.recipes.render import render
from sitestack.recipes.system import share_of_cores

OPTIONS = (
    "servers", "health-path", "host", "port", "maxconn", "global-maxconn", "check-interval",
    "rise", "fall", "retries", "timeout-connect", "timeout-client", "timeout-server",
    "timeout-queue", "monitor-uri", "priority", "group", "binary", "user", "timeout-check", "slowstart",
    "threads", "request-log", "slow-request", "agent-port", "agent-inter",
)  # fmt: skip
# What reaches supervisord's log of haproxy (see the README's "The front" section):
# errors: errors, retries, 5xx, slow requests, server state changes; ring: the same, and every
# request into an in-memory ring read with `show events requests`; all: every request (the old way).
REQUEST_LOGS = ("errors", "ring", "all")


@dataclass(frozen=True)
class Server:
    """One app client haproxy balances over."""

    name: str
    address: Address

    @property
    def program(self) -> str:
        """What haproxy asks the agent about: client1 for client1 and for app1.client1 (host.client)."""
        return self.name.rpartition(".")[2]


@dataclass(frozen=True)
class AgentCheck:
    """haproxy asks the agent on the server's host (sitestack.control.agent) for the server's state."""

    port: int
    inter: Duration = Duration(1000)


@dataclass(frozen=True)
class HealthCheck:
    """How haproxy decides a server is up: GET path every interval, rise/fall in a row."""

    path: str = "/health"
    interval: Duration = Duration(1000)
    rise: int = 1
    fall: int = 2
    # after a first failure (and while down) check 4 times as often: a hung client is out
    # within interval + 2 x timeout, a recovered one back within a quarter interval
    fastinter: Duration = Duration(250)
    # a client coming back gets its share of traffic over this long, not all at once
    slowstart: Duration = Duration(5000)


@dataclass(frozen=True)
class Timeouts:
    connect: Duration = Duration(2000)
    client: Duration = Duration(60_000)
    # a request stuck on a hung client is retried on another after this (retry-on response-timeout)
    server: Duration = Duration(10_000)
    queue: Duration = Duration(30_000)
    check: Duration = Duration(1000)


@dataclass(frozen=True)
class Haproxy:
    """Everything haproxy.cfg says."""

    servers: tuple[Server, ...]
    stats_socket: str
    host: str = "127.0.0.1"
    port: int = 8090
    monitor_uri: str = "/haproxy-health"
    check: HealthCheck = HealthCheck()
    timeouts: Timeouts = Timeouts()
    maxconn: int = 4
    global_maxconn: int = 256
    retries: int = 3
    threads: int = 1
    request_log: str = "errors"
    # a request that takes at least this long is logged even when it succeeded
    slow_request: Duration = Duration(1000)
    # the backend of the app clients: bin/sitestack and the watchdog drain its servers by this name
    backend: str = "clients"
    agent: AgentCheck | None = None

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


def parse_servers(text: str) -> tuple[Server, ...]:
    """`name=host:port` entries separated by spaces or newlines; every bad entry is reported."""
    problems: list[Problem] = []
    servers: list[Server] = []
    names: set[str] = set()
    addresses: set[Address] = set()
    for entry in text.split():
        name, equals, address = entry.partition("=")
        if not equals or not name or not address:
            problems.append(Problem("servers", "expected name=host:port entries", entry))
            continue
        try:
            server = Server(convert.name(name), convert.address(address))
        except Invalid as error:
            problems.append(Problem("servers", str(error), entry))
            continue
        if server.name in names:
            problems.append(Problem("servers", f"duplicate server name {server.name!r}", entry))
        elif server.address in addresses:
            problems.append(Problem("servers", f"duplicate server address {server.address}", entry))
        names.add(server.name)
        addresses.add(server.address)
        servers.append(server)
    if problems:
        raise ConfigError(problems)
    return tuple(servers)


def _at_least_one(text: str) -> int:
    return convert.integer(text, 1)


def threads(text: str) -> int:
    """`auto`: one thread per two cores (haproxy shares them with varnish and the clients), or a count."""
    return share_of_cores(text, 2, 64, 64)


def request_log(text: str) -> str:
    value = text.strip().lower()
    if value not in REQUEST_LOGS:
        raise Invalid("expected " + ", ".join(REQUEST_LOGS))
    return value


def render_haproxy_cfg(part: str, haproxy: Haproxy) -> str:
    """The haproxy configuration file."""
    return render("haproxy.cfg.j2", part=part, haproxy=haproxy)


def read_servers(reader: OptionReader) -> tuple[Server, ...]:
    """The required `servers` option; problems collect on the reader."""
    if not reader.has("servers"):
        reader.problem("servers", "is required")
        return ()
    try:
        return parse_servers(reader.raw("servers"))
    except ConfigError as error:
        reader.problems.extend(error.problems)
        return ()


def read_haproxy(reader: OptionReader, stats_socket: str) -> Haproxy:
    """The model from a section's options; problems collect on the reader."""
    servers = read_servers(reader)
    check_socket_path(reader, stats_socket)
    return Haproxy(
        servers=servers,
        stats_socket=stats_socket,
        host=reader.get("host", convert.host, "127.0.0.1"),
        port=reader.get("port", convert.port, 8090),
        monitor_uri=reader.get("monitor-uri", convert.url_path, "/haproxy-health"),
        check=read_health_check(reader),
        timeouts=read_timeouts(reader),
        maxconn=reader.get("maxconn", _at_least_one, 4),
        global_maxconn=reader.get("global-maxconn", _at_least_one, 256),
        retries=reader.get("retries", lambda text: convert.integer(text, 0, 100), 3),
        threads=reader.get("threads", threads, threads("auto")),
        request_log=reader.get("request-log", request_log, "errors"),
        slow_request=reader.get("slow-request", convert.duration, Duration(1000)),
        agent=read_agent_check(reader),
    )


def read_health_check(reader: OptionReader) -> HealthCheck:
    return HealthCheck(
        path=reader.get("health-path", convert.url_path, "/health"),
        interval=reader.get("check-interval", convert.duration, Duration(1000)),
        rise=reader.get("rise", _at_least_one, 1),
        fall=reader.get("fall", _at_least_one, 2),
        slowstart=reader.get("slowstart", convert.duration, Duration(5000)),
    )


def read_timeouts(reader: OptionReader) -> Timeouts:
    return Timeouts(
        connect=reader.get("timeout-connect", convert.duration, Duration(2000)),
        client=reader.get("timeout-client", convert.duration, Duration(60_000)),
        server=reader.get("timeout-server", convert.duration, Duration(10_000)),
        queue=reader.get("timeout-queue", convert.duration, Duration(30_000)),
        check=reader.get("timeout-check", convert.duration, Duration(1000)),
    )


def read_agent_check(reader: OptionReader) -> AgentCheck | None:
    """agent-port (and agent-inter): drained through each host's agent; none without agent-port."""
    if not reader.has("agent-port"):
        if reader.has("agent-inter"):
            reader.problem("agent-inter", "needs agent-port as well", reader.raw("agent-inter").strip())
        return None
    return AgentCheck(reader.get("agent-port", convert.port, 9190),
                      reader.get("agent-inter", convert.duration, Duration(1000)))


class Recipe:
    """zc.buildout adapter: read options, publish the program, write haproxy.cfg."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.name, self.options = name, options
        paths = Paths(buildout)
        self.socket_dir = paths.var / "haproxy"
        # the master's working directory: one bin/buildout never removes (it re-creates parts/haproxy
        # when an option changes, and a master in a removed directory cannot reload)
        self.home = paths.directory
        self.config = paths.parts / name / "haproxy.cfg"
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.haproxy = read_haproxy(reader, str(self.socket_dir / "admin.sock"))
            self.master = read_master(reader, self.config, 30)
            reader.done()
            self.text = render_haproxy_cfg(name, self.haproxy)
            check_config(self.master.binary, self.text)
        self.user = self.master.user
        publish_master(options, name, self.master, self.config, self.home, self.haproxy.address,
                       self.haproxy.monitor_uri, self.haproxy.stats_socket, {"backend": self.haproxy.backend})

    def install(self) -> list[str]:
        return install_master(self.options, self.config, self.socket_dir, self.user, self.text)

    update = install

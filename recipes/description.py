"""The site's description for the runtime: site.json, written by the supervisor part, read by
bin/sitestack, the watchdog and the exporter. One encoder (`Site.dumps`), one decoder (`Site.load`).

It holds every path and name an operator command needs (config files, secrets, admin addresses,
haproxy's socket and backend, the control server), so nothing re-parses a generated file to learn
what the build already knew. It holds no secret: only the path of the file that does. Its
`watchdog` section holds the default watchdog's rules, which the watchdog reads from here.
Addresses are `Address` values here and host:port text in site.json.
Pure: stdlib and sitestack's converters only (supervisor is imported when `rpc` is called).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sitestack.recipes import convert
from sitestack.recipes.address import Address

CONSUMERS = ("haproxy", "varnish")
EDGE_BACKEND = "varnish"  # the name of the edge's one backend, and of its one server


@dataclass(frozen=True)
class Consumer:
    """The config file a program reads, checked by the program's own binary (`haproxy -c`,
    `varnishd -C`), with the secret and admin address operator commands use."""

    kind: str  # one of CONSUMERS: which check of bin/sitestack check applies
    config: str
    secret: str = ""
    admin: Address | None = None  # its admin interface (varnish's -T)


@dataclass(frozen=True)
class SiteProgram:
    """One supervised process as the supervisor part wrote it down."""

    name: str
    group: str
    priority: int
    health_url: str = ""
    address: Address | None = None
    watchdog: bool = False
    memory_quota: int | None = None
    start_timeout: float = 0.0  # seconds a restart waits for it to answer (0: the restart's default)
    program: str = ""  # supervisor's [program:x] name (a pool's processes share it; "": name)
    command: str = ""  # the command line, as supervisor runs it (before %-escaping)
    user: str = ""  # the user supervisord runs it as ("": supervisord's own)
    consumer: Consumer | None = None

    @property
    def namespec(self) -> str:
        return f"{self.group}:{self.name}" if self.group else self.name

    @property
    def section(self) -> str:
        """The name of its [program:x] section."""
        return self.program or self.name


@dataclass(frozen=True)
class Balancer:
    """haproxy's runtime socket and the backend the clients are servers of."""

    socket: str
    backend: str
    servers: tuple[str, ...] = ()
    part: str = ""


@dataclass(frozen=True)
class Edge:
    """The haproxy in front of varnish (recipes/edge.py): its program, its admin socket (its seamless
    reload reads the new worker from it, the exporter its view of varnish) and its backend's name."""

    program: str
    socket: str
    backend: str = EDGE_BACKEND


@dataclass(frozen=True)
class ControlServer:
    """How commands reach supervisord, and what its control server looks like (for check).

    Built by the part: serverurl, username and the file holding the password. In conf.d mode the
    site's supervisord is the system's, which the build does not configure: serverurl is empty and
    commands read [supervisorctl] of `conf`, the system's own supervisord.conf."""

    conf: str  # the supervisord.conf bin/supervisorctl reads
    serverurl: str = ""
    username: str = ""
    password_file: str = ""  # mode 0600; "" when the control server has no password
    socket: str = ""  # the unix socket ("" for an inet port)
    socket_mode: str = ""  # such as 0700
    port: Address | None = None  # an inet control port
    pidfile: str = ""  # supervisord's pidfile ("" in conf.d mode)
    supervisord_user: str = ""  # the user supervisord switches to ("": it stays who started it)


@dataclass(frozen=True)
class MemoryQuotas:
    """The default watchdog's memory rules: quotas in bytes per group and per program (memmon's -g, -p)."""

    groups: tuple[tuple[str, int], ...] = ()
    programs: tuple[tuple[str, int], ...] = ()  # a name, or group:process for a pool's processes
    email: str = ""  # mailed about each restart ("": nobody)


@dataclass(frozen=True)
class HealthCheck:
    """One URL the default watchdog checks, and the programs it restarts when the URL fails (httpok)."""

    url: str
    programs: tuple[str, ...]
    timeout: float  # seconds
    email: str = ""


@dataclass(frozen=True)
class WatchdogRules:
    """The default watchdog's rules, as the supervisor part derived them from the programs.

    grace: seconds after a start before a program that has not answered is judged (None: the
    watchdog's own default; a program's start_timeout wins for it)."""

    memory: MemoryQuotas | None = None
    health: tuple[HealthCheck, ...] = ()
    grace: int | None = None

    def __bool__(self) -> bool:
        return bool(self.memory or self.health)


@dataclass(frozen=True)
class Site:
    """A built site."""

    directory: Path
    supervisord_conf: Path
    programs: tuple[SiteProgram, ...]
    balancer: Balancer | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    control_server: ControlServer | None = None
    watchdog: WatchdogRules | None = None  # the default watchdog's rules (None: no default watchdog)
    edge: Edge | None = None

    def program(self, name: str) -> SiteProgram:
        for program in self.programs:
            if name in (program.name, program.namespec):
                return program
        raise KeyError(name)

    def consumers(self, kind: str) -> list[SiteProgram]:
        """The programs whose config file is checked by `kind` (haproxy, varnish), one per section."""
        seen: dict[str, SiteProgram] = {}
        for p in self.programs:
            if p.consumer and p.consumer.kind == kind:
                seen.setdefault(p.section, p)
        return list(seen.values())

    def admin_socket(self, program: str) -> str | None:
        """The admin socket of a haproxy program: the edge's or the balancer's (None: neither)."""
        if self.edge and self.edge.program == program:
            return self.edge.socket
        if self.balancer and self.balancer.part in ("", program):
            return self.balancer.socket
        return None

    def control(self) -> tuple[str, str, str]:
        """(serverurl, username, password) of supervisord's control server."""
        server = self.control_server or ControlServer(str(self.supervisord_conf))
        if not server.serverurl:
            return _supervisorctl_section(Path(server.conf))
        password = ""
        if server.password_file:
            try:
                password = Path(server.password_file).read_text(encoding="utf-8").strip()
            except PermissionError:
                raise SystemExit(f"sitestack: cannot read {server.password_file}, which holds the control "
                                 f"password (mode 0600): run this as the user supervisord runs as") from None
        return server.serverurl, server.username, password

    def rpc(self) -> Any:
        """supervisord's XML-RPC interface (supervisor.* and system.* methods)."""
        # supervisor ships no type hints: its module is Any here
        transport_module: Any = importlib.import_module("supervisor.xmlrpc")
        serverurl, username, password = self.control()
        transport = transport_module.SupervisorTransport(username, password, serverurl)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def dumps(self) -> str:
        """site.json's text."""
        data: dict[str, Any] = {
            "directory": str(self.directory), "supervisord_conf": str(self.supervisord_conf),
            "programs": [_json(p) for p in self.programs],
            "balancer": _json(self.balancer),
            "control": _json(self.control_server),
        }
        if self.extra:
            data["extra"] = self.extra
        if self.watchdog:
            data["watchdog"] = dataclasses.asdict(self.watchdog)
        if self.edge:
            data["edge"] = dataclasses.asdict(self.edge)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> Site:
        """Read site.json as the supervisor part wrote it."""
        return cls.loads(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def loads(cls, text: str) -> Site:
        data = json.loads(text)
        balancer, control = data.get("balancer"), data.get("control")
        return cls(
            directory=Path(data["directory"]),
            supervisord_conf=Path(data["supervisord_conf"]),
            programs=tuple(_program(p) for p in data["programs"]),
            balancer=Balancer(balancer["socket"], balancer["backend"], tuple(balancer.get("servers", ())),
                              balancer.get("part", "")) if balancer else None,
            extra=data.get("extra", {}),
            control_server=_with_address(ControlServer, control, "port") if control else None,
            watchdog=_watchdog(data["watchdog"]) if data.get("watchdog") else None,
            edge=Edge(**data["edge"]) if data.get("edge") else None,
        )


def _program(data: dict[str, Any]) -> SiteProgram:
    consumer = data.get("consumer")
    fields = {k: v for k, v in data.items() if k != "consumer"}
    return _with_address(SiteProgram, fields, "address",
                         consumer=_with_address(Consumer, consumer, "admin") if consumer else None)


_T = TypeVar("_T")


def _with_address(kind: Callable[..., _T], data: dict[str, Any], key: str, **more: Any) -> _T:
    """kind(**data) with data[key], host:port text in site.json, parsed."""
    return kind(**{**data, key: optional_address(data.get(key, ""))}, **more)


def optional_address(text: str) -> Address | None:
    """An address as site.json and published options hold it: host:port, or "" for none."""
    return convert.address(text) if text.strip() else None


def _json(value: Any) -> Any:
    """A description's value as site.json holds it: dataclasses as objects, an address as host:port
    ("" for none: an address field is never null)."""
    if isinstance(value, Address):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # f.type is the annotation's text (from __future__ import annotations)
        return {f.name: "" if f.type == "Address | None" and getattr(value, f.name) is None
                else _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    return value


def _watchdog(data: dict[str, Any]) -> WatchdogRules:
    """site.json's watchdog section (JSON lists back into tuples)."""
    memory = data.get("memory")
    return WatchdogRules(
        memory=MemoryQuotas(tuple((name, int(size)) for name, size in memory.get("groups", ())),
                            tuple((name, int(size)) for name, size in memory.get("programs", ())),
                            memory.get("email", "")) if memory else None,
        health=tuple(HealthCheck(h["url"], tuple(h["programs"]), float(h["timeout"]), h.get("email", ""))
                     for h in data.get("health", ())),
        grace=data.get("grace"),
    )


def _supervisorctl_section(conf: Path) -> tuple[str, str, str]:
    """[supervisorctl] of a supervisord.conf the build did not write (the system's, in conf.d mode)."""
    import configparser

    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"))
    try:
        with open(conf, encoding="utf-8") as handle:
            parser.read_file(handle)
    except PermissionError:
        raise SystemExit(f"sitestack: cannot read {conf}, which holds the control password "
                         f"(mode 0600): run this as the user supervisord runs as") from None
    ctl = parser["supervisorctl"]
    return ctl["serverurl"], ctl.get("username", ""), ctl.get("password", "")


def load_site(path: str | Path) -> Site:
    """Read site.json (the same as Site.load)."""
    return Site.load(path)

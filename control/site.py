"""What a command knows about the site: parts/<supervisor>/site.json and supervisord's XML-RPC."""
from __future__ import annotations

import configparser
import json
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SiteProgram:
    """One supervised program as the supervisor part wrote it down."""

    name: str
    group: str
    priority: int
    health_url: str = ""
    address: str = ""
    watchdog: bool = False
    memory_quota: int | None = None
    start_timeout: float = 0.0  # seconds a restart waits for it to answer (0: the restart's default)

    @property
    def namespec(self) -> str:
        return f"{self.group}:{self.name}" if self.group else self.name


@dataclass(frozen=True)
class Balancer:
    """haproxy's runtime socket and the backend the clients are servers of."""

    socket: str
    backend: str
    servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    """A built site."""

    directory: Path
    supervisord_conf: Path
    programs: tuple[SiteProgram, ...]
    balancer: Balancer | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def program(self, name: str) -> SiteProgram:
        for program in self.programs:
            if name in (program.name, program.namespec):
                return program
        raise KeyError(name)

    def control(self) -> tuple[str, str, str]:
        """(serverurl, username, password) from supervisord.conf's [supervisorctl] section."""
        parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"))
        try:
            # it holds the control password (mode 0600): only supervisord's user may read it
            with open(self.supervisord_conf, encoding="utf-8") as handle:
                parser.read_file(handle)
        except PermissionError:
            raise SystemExit(f"sitestack: cannot read {self.supervisord_conf}, which holds the control password "
                             f"(mode 0600): run this as the user supervisord runs as") from None
        ctl = parser["supervisorctl"]
        return ctl["serverurl"], ctl.get("username", ""), ctl.get("password", "")

    def rpc(self) -> Any:
        """supervisord's XML-RPC interface (supervisor.* and system.* methods)."""
        from supervisor.xmlrpc import SupervisorTransport

        serverurl, username, password = self.control()
        transport = SupervisorTransport(username, password, serverurl)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def load_site(path: str | Path) -> Site:
    """Read site.json as the supervisor part wrote it."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    balancer = data.get("balancer")
    return Site(
        directory=Path(data["directory"]),
        supervisord_conf=Path(data["supervisord_conf"]),
        programs=tuple(SiteProgram(**p) for p in data["programs"]),
        balancer=Balancer(balancer["socket"], balancer["backend"], tuple(balancer.get("servers", ())))
        if balancer else None,
        extra=data.get("extra", {}),
    )

"""The app clients part: client1..clientN, each appserver serving the WSGI app over ZEO."""
from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.adapter import Paths, created, egg_scripts, resolve, user_errors
from sitestack.recipes.application import check_importable, installed_option, memory_quota
from sitestack.recipes.errors import Invalid
from sitestack.recipes.files import ensure_directory
from sitestack.recipes.system import chown_tree, program_user
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish

OPTIONS = (
    "count", "host", "base-port", "zeo-address", "application", "health-path", "threads",
    "memory-quota", "priority", "group", "connect-timeout", "eggs", "test-memory-growth", "user",
    "start-timeout", "test-start-delay",
)
EGGS = ("ZEO", "ZODB", "waitress")
MAX_CLIENTS = 64
PER_CLIENT = tuple(f"client{i}-threads" for i in range(1, MAX_CLIENTS + 1))
_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_APPLICATION = re.compile(rf"{_DOTTED}:{_DOTTED}")
_REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?((==|>=|<=|!=|~=|<|>)[A-Za-z0-9.*+!_-]+)?")
# How long supervisor waits after SIGTERM: waitress gives running requests 5s, closing
# the ZEO connection can take a few more.
STOPWAITSECS = 20


@dataclass(frozen=True)
class Client:
    """One app client: its name and where it listens."""

    number: int
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"client{self.number}"

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


@dataclass(frozen=True)
class Clients:
    """What every client shares, and the clients themselves."""

    clients: tuple[Client, ...]
    zeo_address: Address | None
    application: str
    health_path: str
    threads: int
    connect_timeout: int
    start_delay: int = 0  # tests only: seconds each client sleeps after binding its port
    # per-client overrides (`client2-threads = 8`): a change to one restarts only that client
    client_threads: tuple[tuple[int, int], ...] = ()

    def servers(self) -> str:
        """`client1=127.0.0.1:8081 client2=...`: what the haproxy part reads."""
        return " ".join(f"{c.name}={c.address}" for c in self.clients)

    def arguments(self, client: Client, blob_cache: Path) -> list[str]:
        """appserver's command line for one client."""
        return [
            "--name", client.name,
            "--listen", str(client.address),
            "--zeo", str(self.zeo_address or ""),
            "--blob-cache", str(blob_cache),
            "--app", self.application,
            "--threads", str(dict(self.client_threads).get(client.number, self.threads)),
            "--health-path", self.health_path,
            "--connect-timeout", str(self.connect_timeout),
            *(["--start-delay", str(self.start_delay)] if self.start_delay else []),
        ]


def application(text: str) -> str:
    """A WSGI callable as module:callable (both may be dotted)."""
    value = text.strip()
    if not _APPLICATION.fullmatch(value):
        raise Invalid("expected module:callable such as sitestack.demoapp:application")
    return value


def health_path(text: str) -> str:
    """A URL path without a query string (the client compares the path only)."""
    value = convert.url_path(text)
    if "?" in value:
        raise Invalid("expected a URL path without a query string, such as /health")
    return value


def requirements(text: str) -> list[str]:
    """Extra eggs: requirement names, optionally pinned (myapp, myapp==1.2), separated by whitespace."""
    words = text.split()
    for word in words:
        if not _REQUIREMENT.fullmatch(word):
            raise Invalid(f"expected egg names such as myapp or myapp==1.2; {word!r} is not one")
    return words


def seconds(text: str) -> int:
    """A whole number of seconds from 1 to 3600."""
    try:
        return convert.integer(text, 1, 3600)
    except Invalid:
        raise Invalid("expected a whole number of seconds from 1 to 3600") from None


def check_ports(reader: OptionReader, host: str, base_port: int, count: int, zeo: Address | None) -> None:
    """Every client port fits in 1..65535 and none is the ZEO server's."""
    if any(p.option in ("count", "host", "base-port") for p in reader.problems):
        return  # already reported; a default in their place would only add confusion
    text = reader.raw("base-port").strip() or None
    last = base_port + count - 1
    if last > 65535:
        reader.problem("base-port", f"with count = {count} the last client would listen on port {last}; "
                                    "expected base-port + count - 1 to be at most 65535", text)
    elif zeo is not None and zeo.host == host and base_port <= zeo.port <= last:
        reader.problem("base-port", f"client{zeo.port - base_port + 1} would listen on port {zeo.port}, "
                                    "the ZEO server's port", text)


def read_clients(reader: OptionReader) -> Clients:
    """The clients from the part's options; problems are collected in reader."""
    count = reader.get("count", lambda t: convert.integer(t, 1, MAX_CLIENTS), 2)
    host = reader.get("host", convert.host, "127.0.0.1")
    base_port = reader.get("base-port", convert.port, 8081)
    zeo = reader.require("zeo-address", convert.address)
    check_ports(reader, host, base_port, count, zeo)
    return Clients(
        clients=tuple(Client(i, host, base_port + i - 1) for i in range(1, count + 1)),
        zeo_address=zeo,
        application=reader.get("application", application, "sitestack.demoapp:application"),
        health_path=reader.get("health-path", health_path, "/health"),
        threads=reader.get("threads", lambda t: convert.integer(t, 1, 256), 4),
        connect_timeout=reader.get("connect-timeout", seconds, 60),
        # tests only: like Plone loading its configuration after waitress has bound the port
        start_delay=reader.get("test-start-delay", lambda t: convert.integer(t, 0, 3600), 0),
        client_threads=client_threads(reader, count),
    )


def client_threads(reader: OptionReader, count: int) -> tuple[tuple[int, int], ...]:
    """`clientN-threads` overrides; one for a client that does not exist is a mistake, not ignored."""
    for i in range(count + 1, MAX_CLIENTS + 1):
        if reader.has(f"client{i}-threads"):
            reader.problem(f"client{i}-threads", f"there is no client{i}: count is {count} "
                           f"(client1 .. client{count})", reader.raw(f"client{i}-threads").strip())
    return tuple(
        (i, reader.get(f"client{i}-threads", lambda t: convert.integer(t, 1, 256), 4))
        for i in range(1, count + 1) if reader.has(f"client{i}-threads")
    )


class Recipe:
    """zc.buildout adapter: read options, publish client1..N, write bin/clientN."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, (*OPTIONS, *PER_CLIENT))
            self.model = read_clients(reader)
            quota = memory_quota(reader)
            priority = reader.get("priority", convert.priority, 20)
            group = reader.get("group", convert.name, "zeo-clients")
            start_timeout = reader.get("start-timeout", seconds, 300)
            extra_eggs: list[str] = reader.get("eggs", requirements, [])
            # tests only: demoapp's GET /_test/grow?mb=N makes a client grow past its quota
            growth = reader.get("test-memory-growth", convert.boolean, False)
            self.eggs = [*EGGS, *extra_eggs]
            self.user = self._user(reader)
            if not reader.problems:
                options["application-checked"] = self._application_checked(reader)
            reader.done()
        options["servers"] = self.model.servers()
        options["addresses"] = " ".join(str(c.address) for c in self.model.clients)
        options["health-path"] = self.model.health_path
        publish(options, [
            PublishedProgram(
                name=client.name,
                command=str(self.paths.bin / client.name),
                directory=str(self.directory(client)),
                priority=priority,
                group=group,
                health_url=f"http://{client.address}{self.model.health_path}",
                memory_quota=quota,
                address=client.address,
                stopwaitsecs=STOPWAITSECS,
                startsecs=3,
                watchdog=True,
                start_timeout=start_timeout,
                user=self.user,
                environment=(("SITESTACK_TEST_MEMORY_GROWTH", "1"),) if growth else (),
            )
            for client in self.model.clients
        ])

    def _user(self, reader: OptionReader) -> str:
        """As root, clients run as this user: it must reach their script, the eggs and Python's library."""
        reach = [self.paths.bin / "client1", Path(os.__file__)]
        if eggs := self.buildout["buildout"].get("eggs-directory"):
            reach.append(Path(eggs) / "egg")  # any egg inside it
        return program_user(reader, reach)

    def _application_checked(self, reader: OptionReader) -> str:
        """The application imports with the eggs, as the clients' user (see check_importable)."""
        locations = [dist.location for dist in resolve(self.buildout, self.eggs)]
        return check_importable(reader, self.model.application, locations, self.user,
                                last=installed_option(self.buildout, self.name, "application-checked"))

    def directory(self, client: Client) -> Path:
        return self.paths.parts / self.name / client.name

    def blob_cache(self, client: Client) -> Path:
        return self.paths.var / "blobcache" / client.name

    def install(self) -> list[str]:
        """Create each client's directory and blob cache, and write bin/clientN."""
        paths = created(self.options, self.paths.parts / self.name)
        for client in self.model.clients:
            ensure_directory(self.directory(client))
            # The blob cache holds database content: private, and kept on uninstall like var/.
            ensure_directory(self.blob_cache(client), 0o700)
            if self.user:
                chown_tree(self.blob_cache(client), self.user)
            arguments = self.model.arguments(client, self.blob_cache(client))
            paths += egg_scripts(
                self.buildout,
                self.eggs,
                [(client.name, "sitestack.appserver", "main")],
                initialization=f"sys.argv[1:1] = {arguments!r}",
            )
        return paths

    update = install

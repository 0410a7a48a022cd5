"""The agent part: bin/sitestack-agent, haproxy's agent-check for this host's app clients.

    [agent]
    recipe = sitestack:agent
    host = ${hosts:bind}
    port = ${ports:agent}
    clients = ${clients:programs}
    front = 127.0.0.1

It publishes the program (priority 15: up before the clients) and, for the supervisor part's
`agent = agent` option, where the agent listens and its state file (var/agent/state.json), which
the restart routine writes.
"""
from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.adapter import Paths, created, egg_scripts, user_errors
from sitestack.recipes.convert import Duration
from sitestack.recipes.errors import Invalid
from sitestack.recipes.files import ensure_directory
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.system import program_user

OPTIONS = ("host", "port", "clients", "front", "inter", "priority", "user")


@dataclass(frozen=True)
class AgentSettings:
    """Where the agent listens, whom it answers for, and how often haproxy asks."""

    host: str
    port: int
    clients: tuple[str, ...]
    front: tuple[str, ...]
    inter: Duration = Duration(1000)

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


def names(text: str) -> tuple[str, ...]:
    """Program names separated by spaces: the clients the agent answers for."""
    values = tuple(convert.name(word) for word in text.split())
    if not values:
        raise Invalid("expected the names of the clients, such as client1 client2")
    return values


def hosts(text: str) -> tuple[str, ...]:
    """IP addresses separated by spaces."""
    values = tuple(convert.host(word) for word in text.split())
    if not values:
        raise Invalid("expected the front's address, such as 127.0.0.1")
    return values


def read_agent(reader: OptionReader) -> AgentSettings:
    """The settings; problems collect on the reader."""
    host = reader.get("host", convert.host, "127.0.0.1")
    if host in ("0.0.0.0", "::"):
        reader.problem("host", "expected the host's own (private) address; the agent never listens on "
                       "every address", reader.raw("host").strip())
    return AgentSettings(
        host=host,
        port=reader.get("port", convert.port, 9190),
        clients=reader.require("clients", names) or (),
        front=reader.get("front", hosts, ("127.0.0.1",)),
        inter=reader.get("inter", convert.duration, Duration(1000)),
    )


class Recipe:
    """zc.buildout adapter: read options, publish the agent program, write bin/sitestack-agent."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        self.state = self.paths.var / "agent" / "state.json"
        self.script = self.paths.bin / "sitestack-agent"
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.settings = read_agent(reader)
            priority = reader.get("priority", convert.priority, 15)
            user = program_user(reader, [self.script])
            reader.done()
        s = self.settings
        self.arguments = ["--listen", str(s.address), "--state", str(self.state), "--clients", ",".join(s.clients),
                          "--front", ",".join(s.front)]
        options["address"] = str(s.address)
        options["state"] = str(self.state)
        options["inter"] = str(s.inter)
        options["description"] = json.dumps({"address": str(s.address), "state": str(self.state),
                                             "clients": list(s.clients), "inter": s.inter.seconds},
                                            sort_keys=True)
        publish(options, [PublishedProgram(
            name=name, command=str(self.script), directory=str(self.paths.var / "agent"), priority=priority,
            group="", address=s.address, user=user, startsecs=1,
        )])

    def install(self) -> list[str]:
        # var/agent is kept on uninstall like var/: the state of a drained client survives a rebuild
        ensure_directory(self.paths.var / "agent", 0o755)
        # the agent needs nothing but the standard library and sitestack; an egg keeps the script's path
        # list well-formed (zc.buildout writes a broken one for none)
        return created(self.options) + egg_scripts(
            self.buildout, ["supervisor"], [(self.script.name, "sitestack.control.agent", "main")],
            initialization=f"sys.argv[1:1] = {self.arguments!r}")

    update = install


def description(options: MutableMapping[str, str]) -> dict[str, Any]:
    """What the supervisor part writes into site.json for the restart routine."""
    return dict(json.loads(options["description"]))


__all__ = ["Recipe", "AgentSettings", "read_agent", "description"]

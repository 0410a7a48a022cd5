"""The cluster part: one description of the hosts (cluster.cfg), read the same way on every host.

    [cluster]                      # cluster.cfg, the same file on every host
    hosts =
        db     10.77.0.1  db
        app1   10.77.0.2  app
        front  10.77.0.4  front
    [host]                         # the host's own buildout.cfg
    name = app1

A role profile (profiles/db.cfg, app.cfg, front.cfg) adds `recipe = sitestack:cluster` and its
role to [cluster]; the part publishes what the other parts of that host need: the host's private
address (every service binds it), the ZEO server's address, the front's address (the agent's only
asker), and for the front every client of every app host (`app1.client1=10.77.0.2:8081 ...`: a
server named host.client, whose agent is asked about `client`).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import zc.buildout

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import ConfigError, Invalid, Problem
from sitestack.recipes.options import OptionReader

OPTIONS = ("hosts", "role", "clients", "client-port", "zeo-port")
ROLES = ("db", "app", "front")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
EXAMPLE = "such as 'app1 10.77.0.2 app'"


@dataclass(frozen=True)
class Host:
    """One host of the cluster: its name, private address and role."""

    name: str
    address: str
    role: str


@dataclass(frozen=True)
class Cluster:
    """Every host; exactly one db and one front, one or more app hosts."""

    hosts: tuple[Host, ...]

    def of_role(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == role)

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def servers(self, clients: int, base_port: int) -> str:
        """`app1.client1=10.77.0.2:8081 ...`: every client of every app host, for haproxy."""
        return " ".join(f"{h.name}.client{i}={Address(h.address, base_port + i - 1)}"
                        for h in self.of_role("app") for i in range(1, clients + 1))


def parse_host(line: str) -> Host:
    """One `name address role` line."""
    words = line.split()
    if len(words) != 3:
        raise Invalid(f"expected one host per line: its name, private address and role, {EXAMPLE}")
    name, address, role = words
    if not _HOST_NAME.fullmatch(name):
        raise Invalid("expected a host name of letters, digits, '_' and '-' (no '.': haproxy's server "
                      "names are host.client)")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise Invalid(f"expected an IP address as the host's second word, {EXAMPLE}") from None
    if ip.is_unspecified or ip.is_multicast:
        raise Invalid("expected the host's own private address, not a wildcard or multicast address")
    if role not in ROLES:
        raise Invalid("expected the role db, app or front as the host's third word")
    return Host(name, str(ip), role)


def parse_cluster(text: str) -> Cluster:
    """The `hosts` lines; every problem is reported, each with its line."""
    problems: list[Problem] = []
    hosts: list[Host] = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        try:
            host = parse_host(line)
        except Invalid as error:
            problems.append(Problem("hosts", str(error), line))
            continue
        if any(h.name == host.name for h in hosts):
            problems.append(Problem("hosts", f"host {host.name!r} is listed twice", line))
        elif any(h.address == host.address for h in hosts):
            problems.append(Problem("hosts", f"address {host.address} is listed twice", line))
        else:
            hosts.append(host)
    if not problems:
        cluster = Cluster(tuple(hosts))
        for role, wanted in (("db", "exactly one"), ("front", "exactly one"), ("app", "at least one")):
            found = cluster.of_role(role)
            if (len(found) != 1) if wanted == "exactly one" else not found:
                problems.append(Problem("hosts", f"expected {wanted} {role} host",
                                        " ".join(h.name for h in found)))
    if problems:
        raise ConfigError(problems)
    return Cluster(tuple(hosts))


def this_host(cluster: Cluster | None, section: Mapping[str, str] | None) -> tuple[Host | None, list[Problem]]:
    """The host [host] name names, or what is wrong with it."""
    name = (section or {}).get("name", "").strip()
    if not name:
        return None, [Problem("name", "is required: the name of this host in [cluster] hosts", None)]
    if cluster is None:
        return None, []
    known = [h.name for h in cluster.hosts]
    if name not in known:
        return None, [Problem("name", f"expected one of the hosts in [cluster] hosts ({', '.join(known)})", name)]
    return cluster.host(name), []


class Recipe:
    """zc.buildout adapter: read [cluster] and [host], publish this host's addresses and the servers."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        reader = OptionReader(options, OPTIONS)
        cluster = None
        try:
            cluster = parse_cluster(reader.raw("hosts")) if reader.has("hosts") else None
        except ConfigError as error:
            reader.problems.extend(error.problems)
        if cluster is None and not reader.problems:
            reader.problem("hosts", f"is required: one line per host, {EXAMPLE}")
        role = reader.get("role", _role, "")
        clients = reader.get("clients", lambda t: convert.integer(t, 1, 64), 2)
        client_port = reader.get("client-port", convert.port, 8081)
        zeo_port = reader.get("zeo-port", convert.port, 8100)
        host, host_problems = this_host(cluster, buildout.get("host"))
        if host and role and host.role != role:
            reader.problem("role", f"host {host.name!r} plays {host.role!r} in [cluster] hosts, but this "
                           f"buildout extends profiles/{role}.cfg", role)
        lines = [p.describe(name) for p in reader.problems] + [p.describe("host") for p in host_problems]
        if lines:
            raise zc.buildout.UserError("\n".join(lines))
        assert cluster is not None and host is not None
        db, front = cluster.of_role("db")[0], cluster.of_role("front")[0]
        options.update({
            "name": host.name,
            "role": host.role,
            "address": host.address,
            "zeo-address": str(Address(db.address, zeo_port)),
            "front-address": front.address,
            "servers": cluster.servers(clients, client_port),
            "app-hosts": " ".join(h.name for h in cluster.of_role("app")),
        })

    def install(self) -> list[str]:
        return []

    update = install


def _role(text: str) -> str:
    value = text.strip()
    if value not in ROLES:
        raise Invalid("expected db, app or front")
    return value

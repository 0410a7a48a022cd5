"""The varnish part: a cache in front of haproxy, probing haproxy's monitor URI."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.adapter import Paths, created, user_errors
from sitestack.recipes.convert import Duration
from sitestack.recipes.description import Consumer
from sitestack.recipes.errors import Invalid
from sitestack.recipes.files import ensure_directory, read_or_create_secret, write_if_changed
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.render import render
from sitestack.recipes.system import blocked_directory, read_binary, share_of_cores

OPTIONS = (
    "backend", "probe-path", "host", "port", "admin-port", "storage", "purge-allow",
    "interval", "timeout", "window", "threshold", "connect-timeout", "first-byte-timeout",
    "between-bytes-timeout", "priority", "group", "binary", "default-ttl", "thread-pools",
)  # fmt: skip
# Started as root, varnishd runs its manager and VCL compiler as this user (the unix jail).
JAIL_USER = "varnish"
_STORAGE = re.compile(r"(malloc|default)(,\d+[kmgt]?)?|file,/[^,\s]+,\d+[kmgt]?", re.IGNORECASE)


def storage(text: str) -> str:
    """A varnishd -s argument: malloc,256m or file,/path/to/file,1G."""
    value = text.strip()
    if not _STORAGE.fullmatch(value):
        raise Invalid("expected a storage such as malloc,256m or file,/var/cache/varnish.bin,1G")
    return value


def network(text: str) -> str:
    """An IP address or network (CIDR) for an ACL: 127.0.0.1, ::1, 10.0.0.0/8."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError:
        raise Invalid("expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8") from None


@dataclass(frozen=True)
class Probe:
    """How varnish decides its backend is healthy: `threshold` good of the last `window` probes."""

    path: str = "/haproxy-health"
    interval: Duration = Duration(1000)
    timeout: Duration = Duration(1000)
    window: int = 3
    # one good probe of the last three: haproxy's monitor fails for a moment while the clients
    # come up, and the cache must not call its backend sick for seconds because of it
    threshold: int = 1


@dataclass(frozen=True)
class BackendTimeouts:
    connect: Duration = Duration(2000)
    first_byte: Duration = Duration(60_000)
    between_bytes: Duration = Duration(60_000)


@dataclass(frozen=True)
class AclEntry:
    """One purge ACL line: an address, or a network with its prefix length."""

    address: str
    prefix: int | None


@dataclass(frozen=True)
class Varnish:
    """Everything the VCL and the varnishd command line say."""

    backend: Address
    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 6082
    storage: str = "malloc,256m"
    purge_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    probe: Probe = Probe()
    timeouts: BackendTimeouts = BackendTimeouts()
    default_ttl: Duration = Duration(120_000)
    thread_pools: int = 1

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)

    @property
    def admin(self) -> Address:
        """Its admin interface (-T): loopback only."""
        return Address("127.0.0.1", self.admin_port)

    @property
    def acl(self) -> tuple[AclEntry, ...]:
        entries = []
        for text in self.purge_allow:
            net = ipaddress.ip_network(text)
            whole = net.prefixlen == net.max_prefixlen
            entries.append(AclEntry(str(net.network_address), None if whole else net.prefixlen))
        return tuple(entries)


def thread_pools(text: str) -> int:
    """`auto`: one pool per two cores, at most varnish's default of 2; or a count.

    varnish's docs: more than one pool per CPU most likely hurts; on 2 shared cores one pool
    served more uncached requests than two.
    """
    return share_of_cores(text, 2, 2, 32)


def render_varnish_vcl(part: str, varnish: Varnish) -> str:
    """The VCL program."""
    return render("varnish.vcl.j2", part=part, varnish=varnish)


def varnishd_command(binary: str, varnish: Varnish, vcl: str, secret: str, workdir: str) -> str:
    """varnishd in the foreground (-F); -t is the TTL for responses without cache headers."""
    ttl = varnish.default_ttl.seconds
    return shlex.join([
        binary, "-F",
        "-a", str(varnish.address),
        "-T", str(varnish.admin),
        "-S", secret,
        "-f", vcl,
        "-n", workdir,
        "-s", varnish.storage,
        "-t", f"{ttl:g}",
        "-p", f"thread_pools={varnish.thread_pools}",
    ])  # fmt: skip


def read_varnish(reader: OptionReader) -> Varnish:
    """The model from a section's options; problems collect on the reader."""
    backend = reader.require("backend", convert.address) or Address("127.0.0.1", 8090)
    window = reader.get("window", lambda t: convert.integer(t, 1, 64), 3)
    threshold = reader.get("threshold", lambda t: convert.integer(t, 1, 64), 1)
    if threshold > window:
        reader.problem("threshold", f"must not exceed window ({window})", str(threshold))
    port = reader.get("port", convert.port, 8080)
    admin_port = reader.get("admin-port", convert.port, 6082)
    if admin_port == port:
        reader.problem("admin-port", "must differ from port", str(admin_port))
    allow = tuple(read_networks(reader, "purge-allow"))
    return Varnish(
        backend=backend,
        host=reader.get("host", convert.host, "127.0.0.1"),
        port=port,
        admin_port=admin_port,
        storage=reader.get("storage", storage, "malloc,256m"),
        purge_allow=allow or ("127.0.0.1/32", "::1/128"),
        probe=Probe(
            path=reader.get("probe-path", convert.url_path, "/haproxy-health"),
            interval=reader.get("interval", convert.duration, Duration(1000)),
            timeout=reader.get("timeout", convert.duration, Duration(1000)),
            window=window,
            threshold=threshold,
        ),
        timeouts=BackendTimeouts(
            connect=reader.get("connect-timeout", convert.duration, Duration(2000)),
            first_byte=reader.get("first-byte-timeout", convert.duration, Duration(60_000)),
            between_bytes=reader.get("between-bytes-timeout", convert.duration, Duration(60_000)),
        ),
        default_ttl=reader.get("default-ttl", convert.duration, Duration(120_000)),
        thread_pools=reader.get("thread-pools", thread_pools, thread_pools("auto")),
    )


def read_networks(reader: OptionReader, option: str) -> list[str]:
    """Each entry of a space-separated list of networks; a bad one is reported by itself."""
    networks = []
    for entry in reader.raw(option).split():
        try:
            networks.append(network(entry))
        except Invalid as error:
            reader.problem(option, str(error), entry)
    return networks


class Recipe:
    """zc.buildout adapter: read options, publish the program, write the VCL and the secret."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.name, self.options = name, options
        paths = Paths(buildout)
        self.vcl = paths.parts / name / "varnish.vcl"
        # outside parts/: bin/buildout re-creates parts/varnish when an option changes, and varnishd
        # compiles each vcl.load into its working directory while it runs
        self.workdir = paths.var / f"{name}-work"
        self.home = paths.directory
        self.secret = paths.var / "varnish" / "secret"
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.varnish = read_varnish(reader)
            priority = reader.get("priority", convert.priority, 40)
            group = reader.get("group", convert.name, "front")
            binary = read_binary(reader, "varnishd", "varnish")
            if os.geteuid() == 0 and (blocked := blocked_directory(self.vcl, JAIL_USER)):
                reader.problem(
                    "vcl",
                    f"varnishd started as root compiles the VCL as user {JAIL_USER!r}, which may not "
                    f"enter {blocked}; allow it (chmod o+x {blocked}) or run supervisord as another user",
                    str(self.vcl),
                )
            reader.done()
        self.text = render_varnish_vcl(name, self.varnish)
        for key, value in {
            "address": str(self.varnish.address),
            "host": self.varnish.host,
            "port": str(self.varnish.port),
            "vcl": str(self.vcl),
            "secret-file": str(self.secret),
            "workdir": str(self.workdir),
        }.items():
            options[key] = value
        publish(options, [self.program(binary, priority, group)])

    def program(self, binary: str, priority: int, group: str) -> PublishedProgram:
        """varnishd in the foreground; its VCL, secret and admin port are what operator commands use."""
        admin = self.varnish.admin
        return PublishedProgram(
            name=self.name,
            command=varnishd_command(binary, self.varnish, str(self.vcl), str(self.secret), str(self.workdir)),
            directory=str(self.home),
            priority=priority,
            group=group,
            health_url=f"http://{self.varnish.address}{self.varnish.probe.path}",
            address=self.varnish.address,
            other_addresses=(admin,),
            stopwaitsecs=10,
            consumer=Consumer("varnish", str(self.vcl), str(self.secret), admin),
        )

    def install(self) -> list[str]:
        paths = created(self.options, self.vcl.parent)
        ensure_directory(self.vcl.parent)
        ensure_directory(self.secret.parent, 0o700)
        os.chmod(self.secret.parent, 0o700)
        read_or_create_secret(self.secret)
        write_if_changed(self.vcl, self.text)
        return paths

    update = install

"""The ZEO server part: a FileStorage with blobs under var/, bound to loopback."""
from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid
from sitestack.recipes.adapter import Paths, created, egg_scripts, user_errors
from sitestack.recipes.files import cannot_create, ensure_directory, private_directory, write_if_changed
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.render import render

OPTIONS = ("host", "port", "storage", "blob-dir", "priority", "group", "invalidation-queue-size",
           "transaction-timeout", "dead-client-timeout", "eggs")
EGGS = ("ZEO", "ZODB")


@dataclass(frozen=True)
class LockTimeouts:
    """How soon the ZEO server (sitestack.zeoserver) lets go of a client that went silent, in seconds.

    transaction: how long a client may hold the commit lock (from its vote to its finish) before the
    server drops its connection and aborts its transaction: a client cut off the network or stopped
    (SIGSTOP) in that moment would otherwise stall every writer of the site until TCP gives up
    (minutes). Below haproxy's `timeout server` (10 s), so the writes queued behind it are not timed
    out and retried.
    dead_client: how long a client's host may stop answering at the TCP level (a network cut) before
    the server drops all its connections at once (keepalive, TCP_USER_TIMEOUT): its queued
    transactions are aborted too.
    """

    transaction: int = 5
    dead_client: int = 4

    def dead_client_arguments(self) -> list[str]:
        """The runner's option for the second (the first can be in zeo.conf instead)."""
        return ["--dead-client-timeout", str(self.dead_client)]

    def arguments(self) -> list[str]:
        """The runner's command-line options for both (runzeo's own --timeout for the first)."""
        return ["--timeout", str(self.transaction), *self.dead_client_arguments()]


def whole_seconds(text: str) -> int:
    """A duration ZEO can take: it counts the transaction timeout in whole seconds."""
    value = convert.duration(text)
    if value.milliseconds % 1000:
        raise Invalid("expected whole seconds such as 5s or 1m (ZEO counts seconds)")
    return value.milliseconds // 1000


def read_lock_timeouts(reader: OptionReader, prefix: str = "") -> LockTimeouts:
    """<prefix>transaction-timeout and <prefix>dead-client-timeout, whole seconds."""
    default = LockTimeouts()
    return LockTimeouts(
        transaction=reader.get(f"{prefix}transaction-timeout", whole_seconds, default.transaction),
        dead_client=reader.get(f"{prefix}dead-client-timeout", whole_seconds, default.dead_client),
    )


@dataclass(frozen=True)
class ZeoServer:
    """Where the ZEO server listens and keeps its data."""

    host: str
    port: int
    storage: str
    blob_dir: str
    invalidation_queue_size: int = 1000
    timeouts: LockTimeouts = LockTimeouts()

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


def render_zeo_conf(part: str, zeo: ZeoServer) -> str:
    """The runzeo configuration file."""
    return render("zeo.conf.j2", part=part, zeo=zeo)


def read_zeo(reader: OptionReader, var: Path) -> ZeoServer:
    """The model from a section's options; problems collect on reader."""
    return ZeoServer(
        host=reader.get("host", convert.host, "127.0.0.1"),
        port=reader.get("port", convert.port, 8100),
        storage=reader.get("storage", convert.single_line, str(var / "filestorage" / "Data.fs")),
        blob_dir=reader.get("blob-dir", convert.single_line, str(var / "blobstorage")),
        invalidation_queue_size=reader.get(
            "invalidation-queue-size", lambda t: convert.integer(t, 1), 1000
        ),
        timeouts=read_lock_timeouts(reader),
    )


def check_directories(reader: OptionReader, zeo: ZeoServer) -> None:
    """The storage's and the blobs' directories are ones install can create."""
    for option, directory in (("storage", Path(zeo.storage).parent), ("blob-dir", zeo.blob_dir)):
        if problem := cannot_create(directory):
            reader.problem(option, problem, reader.raw(option).strip() or str(directory))


class Recipe:
    """zc.buildout adapter: read options, publish the program, write zeo.conf and bin/<part>."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.zeo = read_zeo(reader, self.paths.var)
            priority = reader.get("priority", convert.priority, 10)
            group = reader.get("group", convert.name, "zeo-cluster")
            self.eggs = reader.raw("eggs").split() or list(EGGS)
            check_directories(reader, self.zeo)
            reader.done()
        self.conf = self.paths.parts / name / "zeo.conf"
        self.script = self.paths.bin / name
        options["address"] = str(self.zeo.address)
        options["host"] = self.zeo.host
        options["port"] = str(self.zeo.port)
        options["command"] = str(self.script)
        options["zeo-conf"] = str(self.conf)
        options["storage"] = self.zeo.storage
        options["blob-dir"] = self.zeo.blob_dir
        publish(options, [self.program(priority, group)])

    def program(self, priority: int, group: str) -> PublishedProgram:
        """runzeo on zeo.conf, given 30s to close the storage cleanly."""
        return PublishedProgram(
            name=self.name,
            command=str(self.script),
            directory=str(self.paths.parts / self.name),
            priority=priority,
            group=group,
            # Data.fs, its index and the blobs readable by nobody else: ZODB makes the blob
            # directory again (umask mode) when it creates a new storage
            settings=(("umask", "077"),),
            address=self.zeo.address,
            stopwaitsecs=30,
            startsecs=1,
        )

    def install(self) -> list[str]:
        # the database and its blobs: readable by nobody but the ZEO server's user
        private_directory(Path(self.zeo.storage).parent)
        private_directory(self.zeo.blob_dir)
        paths = created(self.options, self.conf.parent)
        ensure_directory(self.conf.parent)
        write_if_changed(self.conf, render_zeo_conf(self.name, self.zeo))
        paths += egg_scripts(
            self.buildout,
            self.eggs,
            [(self.name, "sitestack.zeoserver", "main")],
            initialization=f"sys.argv[1:1] = {['-C', str(self.conf), *self.zeo.timeouts.dead_client_arguments()]!r}",
        )
        return paths

    update = install

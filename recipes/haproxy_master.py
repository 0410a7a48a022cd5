"""What every part that runs a haproxy master shares (the balancer, recipes/haproxy.py, and the edge,
recipes/edge.py): who runs it, its supervisor program, and writing its config next to a private
admin-socket directory."""
from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import tempfile
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from sitestack.recipes import convert
from sitestack.recipes.adapter import created
from sitestack.recipes.address import Address
from sitestack.recipes.description import Consumer
from sitestack.recipes.errors import ConfigError, Problem
from sitestack.recipes.files import ensure_directory, write_if_changed
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.system import blocked_directory, existing_user, read_binary


# A unix socket path must fit sockaddr_un.sun_path (108 bytes with its NUL).
MAX_SOCKET_PATH = 107


def check_socket_path(reader: OptionReader, stats_socket: str) -> None:
    """The admin socket's path must fit a unix socket address; a problem on the reader otherwise."""
    if len(stats_socket) > MAX_SOCKET_PATH:
        reader.problem(
            "stats-socket",
            f"a unix socket path may have at most {MAX_SOCKET_PATH} bytes; use a shorter buildout directory",
            stats_socket,
        )


def check_config(binary: str, text: str) -> None:
    """A ConfigError when `haproxy -c` refuses the config text: called before anything is written, so a
    config haproxy refuses never reaches a running master."""
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        result = subprocess.run([binary, "-c", "-q", "-f", handle.name], capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL)
    if result.returncode:
        said = " ".join((result.stdout + result.stderr).replace(handle.name, "haproxy.cfg").split())
        said = said[-1000:] or f"exited {result.returncode}"
        raise ConfigError([Problem("config", f"haproxy -c refuses the generated file: {said}")])


@dataclass(frozen=True)
class Master:
    """How supervisord runs a haproxy master: binary, priority, group, and user (when root)."""

    binary: str
    priority: int
    group: str
    user: str


def read_master(reader: OptionReader, config: Path, priority: int) -> Master:
    """priority, group, binary and user of a part that runs haproxy (the balancer, the edge)."""
    priority = reader.get("priority", convert.priority, priority)
    group = reader.get("group", convert.name, "front")
    binary = read_binary(reader, "haproxy", "haproxy")
    # supervisord can only start haproxy as another user when it runs as root
    user = reader.get("user", existing_user, "") if os.geteuid() == 0 else ""
    if user and (blocked := blocked_directory(config, user)):
        reader.problem("user", f"user {user!r} may not enter {blocked}", user)
    return Master(binary, priority, group, user)


def master_program(name: str, master: Master, config: Path, home: Path, address: Address,
                   health_url: str) -> PublishedProgram:
    """haproxy's master in the foreground (-W -db); USR2 reloads it seamlessly, USR1 is its
    graceful stop: the workers finish their requests, then the master exits."""
    return PublishedProgram(
        name=name,
        command=shlex.join([master.binary, "-W", "-db", "-f", str(config)]),
        directory=str(home),
        priority=master.priority,
        group=master.group,
        health_url=health_url,
        address=address,
        user=master.user,
        stopsignal="USR1",
        stopwaitsecs=10,
        consumer=Consumer("haproxy", str(config)),
    )


def publish_master(options: MutableMapping[str, str], name: str, master: Master, config: Path, home: Path,
                   address: Address, monitor_uri: str, stats_socket: str,
                   extra: dict[str, str] | None = None) -> None:
    """The options other parts read (address, host, port, monitor-uri, stats-socket, any `extra`,
    config), and the master's program, its health URL the monitor URI."""
    options.update({"address": str(address), "host": address.host, "port": str(address.port),
                    "monitor-uri": monitor_uri, "stats-socket": stats_socket, **(extra or {}), "config": str(config)})
    publish(options, [master_program(name, master, config, home, address, f"http://{address}{monitor_uri}")])


def install_master(options: MutableMapping[str, str], config: Path, socket_dir: Path, user: str,
                   text: str) -> list[str]:
    """Write the config; make the admin socket's directory, private to the user haproxy runs as."""
    paths = created(options, config.parent)
    ensure_directory(config.parent)
    ensure_directory(socket_dir, 0o700)
    os.chmod(socket_dir, 0o700)
    if user and os.geteuid() == 0:
        # supervisord starts haproxy as this user, which creates the socket in here.
        entry = pwd.getpwnam(user)
        os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
    write_if_changed(config, text)
    return paths

"""The Zope part: plone.recipe.zope2instance instances (and a plone.recipe.zeoserver) as sitestack programs.

    [zope]
    recipe = sitestack:zope
    instances = instance1 instance2
    zeoserver = zeoserver

Each named instance part is published as an app client exactly like sitestack's own: its
`http-address`, a health URL on it, a memory quota, group and priority, its own console log file,
the site user owning what it writes (var/<instance>, its logs, the blob storage), and a haproxy
server line (`servers`). The plone.recipe.zeoserver part, when named, is published too, so its
address joins the port-clash check; supervisor runs it as bin/<part>-server, sitestack's ZEO server
runner on the part's zeo.conf (its transaction timeout releases the commit lock; README, "Zero lost
requests"). The instance and zeoserver parts build their own scripts; this part reads their options
and never runs them.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.adapter import Paths, egg_scripts, user_errors
from sitestack.recipes.errors import Invalid
from sitestack.recipes.files import ensure_directory
from sitestack.recipes.options import OptionReader
from sitestack.recipes.publish import PublishedProgram, publish
from sitestack.recipes.system import chown_tree, program_user
from sitestack.recipes.zeoserver import EGGS, LockTimeouts, read_lock_timeouts

OPTIONS = ("instances", "zeoserver", "health-path", "memory-quota", "priority", "group", "start-timeout",
           "user", "zeo-priority", "zeo-group", "zeo-transaction-timeout", "zeo-dead-client-timeout")
INSTANCE_RECIPE = "plone.recipe.zope2instance"
ZEOSERVER_RECIPE = "plone.recipe.zeoserver"
STOPWAITSECS = 30


@dataclass(frozen=True)
class Instance:
    """One plone.recipe.zope2instance part as sitestack sees it."""

    name: str
    address: Address
    script: str
    location: str
    logs: tuple[str, ...]  # the files Zope itself writes: event log, access (Z2) log


@dataclass(frozen=True)
class ZeoPart:
    """The plone.recipe.zeoserver part, run by sitestack's ZEO server runner (sitestack.zeoserver) on its
    zeo.conf: runzeo whose transaction timeout releases the commit lock (README, "Zero lost requests")."""

    name: str
    address: Address
    conf: str  # the zeo.conf plone.recipe.zeoserver writes
    eggs: tuple[str, ...]
    timeouts: LockTimeouts = LockTimeouts()

    def arguments(self) -> list[str]:
        return ["-C", self.conf, *self.timeouts.arguments()]


def instance_address(text: str) -> Address:
    """http-address as host:port on an explicit address (a bare port binds every interface)."""
    value = text.strip()
    if value.isdigit():
        raise Invalid("its http-address is a bare port, which binds every interface; "
                      f"give a loopback address such as 127.0.0.1:{value}")
    return convert.address(value)


def read_instance(name: str, section: Mapping[str, str], bin_dir: Path, var: Path) -> Instance:
    """An instance part's address, script and log files; Invalid says what is wrong with it."""
    if not section.get("recipe", "").startswith(INSTANCE_RECIPE):
        raise Invalid(f"part {name!r} is not a {INSTANCE_RECIPE} part (recipe {section.get('recipe', '')!r})")
    address = instance_address(section.get("http-address", "8080"))
    logs = (section.get("event-log", "").strip() or str(var / "log" / f"{name}.log"),
            section.get("z2-log", "").strip() or str(var / "log" / f"{name}-Z2.log"))
    return Instance(name, address, str(bin_dir / name), section.get("location", "").strip(), logs)


def read_zeoserver(name: str, section: Mapping[str, str], parts: Path) -> ZeoPart:
    """A plone.recipe.zeoserver part: its address, zeo.conf and eggs."""
    if not section.get("recipe", "").startswith(ZEOSERVER_RECIPE):
        raise Invalid(f"part {name!r} is not a {ZEOSERVER_RECIPE} part (recipe {section.get('recipe', '')!r})")
    conf = section.get("zeo-conf", "").strip() or str(parts / name / "etc" / "zeo.conf")
    eggs = tuple(dict.fromkeys([*EGGS, *(e for e in section.get("eggs", "").split() if e != ZEOSERVER_RECIPE)]))
    return ZeoPart(name, instance_address(section.get("zeo-address", "8100")), conf, eggs)


def shared_logs(instances: list[Instance], console: dict[str, str]) -> str | None:
    """Why two instances would write one log file, or None."""
    owners: dict[str, str] = {}
    for instance in instances:
        for path in (*instance.logs, console[instance.name]):
            if path in owners and owners[path] != instance.name:
                return f"{owners[path]} and {instance.name} would both write {path}"
            owners[path] = instance.name
    return None


class Recipe:
    """zc.buildout adapter: read the instance parts, publish them as programs and haproxy servers."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.buildout, self.name, self.options = buildout, name, options
        self.paths = Paths(buildout)
        with user_errors(name):
            reader = OptionReader(options, OPTIONS)
            self.instances = self._instances(reader)
            self.zeo = self._zeoserver(reader)
            health = reader.get("health-path", convert.url_path, "/")
            quota = reader.get("memory-quota", convert.byte_size, 800 * 1024**2)
            priority = reader.get("priority", convert.priority, 20)
            group = reader.get("group", convert.name, "zeo-clients")
            start_timeout = reader.get("start-timeout", lambda t: convert.integer(t, 1, 86400), 300)
            zeo_priority = reader.get("zeo-priority", convert.priority, 10)
            zeo_group = reader.get("zeo-group", convert.name, "zeo-cluster")
            self.console = {i.name: str(self.paths.var / "log" / f"{i.name}-console.log") for i in self.instances}
            if clash := shared_logs(self.instances, self.console):
                reader.problem("instances", clash, reader.raw("instances").strip())
            self.user = program_user(reader, [self.paths.bin, Path(os.__file__)])
            reader.done()
        options["servers"] = " ".join(f"{i.name}={i.address}" for i in self.instances)
        options["addresses"] = " ".join(str(i.address) for i in self.instances)
        options["health-path"] = health
        programs = [self._zeo_program(self.zeo, zeo_priority, zeo_group)] if self.zeo else []
        programs += [PublishedProgram(
            name=i.name, command=f"{i.script} console", directory=i.location or str(self.paths.directory),
            priority=priority, group=group, health_url=f"http://{i.address}{health}", memory_quota=quota,
            address=i.address, user=self.user, stopwaitsecs=STOPWAITSECS, startsecs=3, watchdog=True,
            start_timeout=start_timeout, settings=(("stdout_logfile", self.console[i.name]),),
        ) for i in self.instances]
        publish(options, programs)

    def _instances(self, reader: OptionReader) -> list[Instance]:
        found = []
        for part in reader.raw("instances").split():
            if part not in self.buildout:
                reader.problem("instances", f"expected names of {INSTANCE_RECIPE} parts; there is no part {part!r}",
                               part)
                continue
            try:
                found.append(read_instance(part, self.buildout[part], self.paths.bin, self.paths.var))
            except Invalid as error:
                reader.problem("instances", f"{part}: {error}", self.buildout[part].get("http-address", part))
        if not reader.raw("instances").split():
            reader.problem("instances", f"expected the names of {INSTANCE_RECIPE} parts, such as instance1 instance2",
                           "")
        return found

    def _zeoserver(self, reader: OptionReader) -> ZeoPart | None:
        part = reader.raw("zeoserver").strip()
        if not part:
            return None
        if part not in self.buildout:
            reader.problem("zeoserver", f"expected the name of a {ZEOSERVER_RECIPE} part; there is no part {part!r}",
                           part)
            return None
        try:
            found = read_zeoserver(part, self.buildout[part], self.paths.parts)
        except Invalid as error:
            reader.problem("zeoserver", str(error), part)
            return None
        return replace(found, timeouts=read_lock_timeouts(reader, "zeo-"))

    def zeo_script(self, zeo: ZeoPart) -> Path:
        """bin/<part>-server: sitestack.zeoserver on the part's zeo.conf (bin/<part> stays for zeopack & co)."""
        return self.paths.bin / f"{zeo.name}-server"

    def _zeo_program(self, zeo: ZeoPart, priority: int, group: str) -> PublishedProgram:
        return PublishedProgram(name=zeo.name, command=str(self.zeo_script(zeo)), directory=str(self.paths.directory),
                                priority=priority, group=group, address=zeo.address, user=self.user,
                                stopwaitsecs=STOPWAITSECS, settings=(
                                    ("stdout_logfile", str(self.paths.var / "log" / f"{zeo.name}-console.log")),))

    def install(self) -> list[str]:
        """Give the site user what the instances and the ZEO server write (var/<name>, logs, blobs), and
        write the ZEO server's script."""
        if self.user:
            var = self.paths.var
            for path in [var / "log", var / "cache", var / "zeo",
                         *(var / i.name for i in self.instances)]:
                ensure_directory(path)
                chown_tree(path, self.user)
        if self.zeo is None:
            return []
        return egg_scripts(self.buildout, list(self.zeo.eggs),
                           [(self.zeo_script(self.zeo).name, "sitestack.zeoserver", "main")],
                           initialization=f"sys.argv[1:1] = {self.zeo.arguments()!r}")

    update = install


class AdminUser:
    """sitestack:zope-admin: the initial Zope manager as `user = name:password` for the instance parts.

    No default password: one is generated once into var/zope/<name>-password (mode 0600) and reused.
    plone.recipe.zope2instance would otherwise ask for one on the terminal (and fail without one).
    """

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        from sitestack.recipes.files import read_or_create_secret

        with user_errors(name):
            reader = OptionReader(options, ("user-name", "password-file"))
            user = reader.get("user-name", convert.name, "admin")
            default = Paths(buildout).var / "zope" / f"{user}-password"
            path = Path(reader.get("password-file", convert.single_line, str(default)))
            reader.done()
        options["password-file"] = str(path)
        options["user"] = f"{user}:{read_or_create_secret(path)}"

    def install(self) -> list[str]:
        return []  # the password file is kept like var/: removing the part does not change the password

    update = install

"""supervisord's `sitestack` XML-RPC namespace: change a group's members without stopping the others.

supervisor's own `update` re-adds a whole group when one member is added or removed, which stops
every member at once (all app clients, so the site). `sitestack.updateGroup(name)`, after
`supervisor.reloadConfig`, adds the group's new members (they start, as any autostart program does),
drops its stopped members that left the config, and takes the new config for the members that
stay, which keep running; bin/sitestack reload restarts one whose command changed, drained first.
Only bin/supervisord (sitestack.control.supervisord) loads this; supervisord.conf names it in
[rpcinterface:sitestack].
"""
from __future__ import annotations

from typing import Any

from supervisor.states import STOPPED_STATES
from supervisor.xmlrpc import Faults, RPCError

API_VERSION = "1.0"


class SitestackNamespace:
    """The methods under `sitestack.` on supervisord's XML-RPC."""

    def __init__(self, supervisord: Any) -> None:
        self.supervisord = supervisord

    def getAPIVersion(self) -> str:  # noqa: N802 - supervisor's naming
        """The version of this namespace."""
        return API_VERSION

    def updateGroup(self, name: str) -> list[list[str]]:  # noqa: N802 - supervisor's naming
        """Apply the re-read config of group `name` member by member: [added, removed, changed, leaving].

        Members that left the config are removed once stopped; `leaving` lists those still running
        (stop them, then call again)."""
        group = self.supervisord.process_groups.get(name)
        config = next((c for c in self.supervisord.options.process_group_configs if c.name == name), None)
        if group is None or config is None:
            raise RPCError(Faults.BAD_NAME, name)
        wanted = {p.name: p for p in config.process_configs}
        gone = [n for n in group.processes if n not in wanted]
        running = [n for n in gone if group.processes[n].get_state() not in STOPPED_STATES]
        removed = [n for n in gone if n not in running]
        changed = [n for n, p in group.processes.items() if n in wanted and p.config != wanted[n]]
        for member in removed:
            del group.processes[member]
        added = [n for n in wanted if n not in group.processes]
        for member in [*changed, *added]:
            wanted[member].create_autochildlogs()  # what supervisord's add_process_group does first
        for member in changed:
            group.processes[member].config = wanted[member]  # used from its next start on
        for member in added:
            group.processes[member] = wanted[member].make_process(group)
        if not running:
            group.config = config  # so the next reloadConfig counts the group unchanged
        return [added, removed, changed, running]


def make_interface(supervisord: Any, **config: str) -> SitestackNamespace:
    """supervisor.rpcinterface_factory for [rpcinterface:sitestack]."""
    return SitestackNamespace(supervisord)

"""supervisord's `sitestack.*` XML-RPC methods: re-add a changed group one process at a time.

supervisor re-adds a group whose configuration changed as a whole (`removeProcessGroup` refuses
while any member runs), so `supervisorctl update` stops every client of it at once. Here a member
that is stopped gets the configuration supervisord re-read (`supervisor.reloadConfig`) while the
others keep running; `bin/sitestack reload` stops, swaps and starts one client at a time through the
restart routine. Registered in supervisord.conf as [rpcinterface:sitestack] (supervisord mode).
"""
from __future__ import annotations

import time
from typing import Any

from supervisor.states import STOPPED_STATES
from supervisor.xmlrpc import Faults, RPCError


class SitestackRPCInterface:
    """The `sitestack` namespace."""

    def __init__(self, supervisord: Any) -> None:
        self.supervisord = supervisord

    def _configs(self, group_name: str) -> tuple[Any, Any]:
        """(the running group, the group's re-read configuration)."""
        group = self.supervisord.process_groups.get(group_name)
        config = next((c for c in self.supervisord.options.process_group_configs if c.name == group_name), None)
        if group is None or config is None:
            raise RPCError(Faults.BAD_NAME, group_name)
        return group, config

    def processChanged(self, group_name: str, process_name: str) -> bool:  # noqa: N802 - XML-RPC name
        """Whether a member's re-read configuration differs from the one it runs from (or it is new or gone).

        @param string group_name    the group
        @param string process_name  the member
        @return boolean result      true when replaceProcess would change it
        """
        group, config = self._configs(group_name)
        old = group.processes.get(process_name)
        new = next((p for p in config.process_configs if p.name == process_name), None)
        return old is None or new is None or old.config != new

    def replaceProcess(self, group_name: str, process_name: str) -> bool:  # noqa: N802 - XML-RPC name
        """Give one stopped member the re-read configuration (added, changed or, if gone, removed).

        @param string group_name    the group, as reloadConfig reported it changed
        @param string process_name  a member of the running group or of its new configuration
        @return boolean result      true when it now runs from the new configuration (or is gone)
        """
        group, config = self._configs(group_name)
        old = group.processes.get(process_name)
        if old is not None and old.get_state() not in STOPPED_STATES:
            raise RPCError(Faults.STILL_RUNNING, f"{group_name}:{process_name}")
        new = next((p for p in config.process_configs if p.name == process_name), None)
        if new is None:
            if old is None:
                raise RPCError(Faults.BAD_NAME, f"{group_name}:{process_name}")
            del group.processes[process_name]
            return True
        new.create_autochildlogs()
        process = new.make_process(group)
        # supervisord's loop autostarts a process that never started (laststart 0); the caller starts
        # this one itself (the restart routine, right after the swap), so it must not start twice
        process.laststart = time.time()
        group.processes[process_name] = process
        return True

    def finishGroup(self, group_name: str) -> bool:  # noqa: N802 - XML-RPC name
        """After every member was replaced: the group itself takes the re-read configuration.

        @param string group_name  the group
        @return boolean result    true, or a fault while a member still runs from the old one
        """
        group, config = self._configs(group_name)
        names = {p.name for p in config.process_configs}
        if set(group.processes) != names:
            raise RPCError(Faults.FAILED, f"{group_name}: members {sorted(group.processes)} != {sorted(names)}")
        group.config = config
        return True


def make_sitestack_rpcinterface(supervisord: Any, **config: str) -> SitestackRPCInterface:
    """supervisor.rpcinterface_factory for [rpcinterface:sitestack]."""
    return SitestackRPCInterface(supervisord)

"""Generic supervisor parts: sitestack:program, sitestack:eventlistener and sitestack:group.

Each publishes what it declares for the supervisor part (list the part in its `programs`); none
writes a file. Supervisor's own options keep supervisor's spelling (`process_name`, `numprocs`,
`stopwaitsecs`, ...); sitestack's own options use dashes (`memory-quota`, `health-url`).
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from sitestack.recipes.adapter import user_errors
from sitestack.recipes.options import OptionReader
from sitestack.recipes.program_model import (
    GROUP_OPTIONS,
    LISTENER_OWN_OPTIONS,
    OWN_OPTIONS,
    read_group,
    read_listener,
    read_program,
)
from sitestack.recipes.publish import publish
from sitestack.recipes.supervisor_model import LISTENER_OPTIONS, PROGRAM_OPTIONS


class Program:
    """[program:<part>] with any of supervisor's program options; numprocs makes it a pool."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        self.options = options
        with user_errors(name):
            reader = OptionReader(options, (*OWN_OPTIONS, *PROGRAM_OPTIONS))
            program = read_program(name, reader)
            reader.done()
        publish(options, [program])

    def install(self) -> list[str]:
        return []

    update = install


class EventListener:
    """[eventlistener:<part>] with events, buffer_size, result_handler and the program options."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        with user_errors(name):
            reader = OptionReader(options, (*LISTENER_OWN_OPTIONS, *LISTENER_OPTIONS))
            listener = read_listener(name, reader)
            reader.done()
        publish(options, [listener])

    def install(self) -> list[str]:
        return []

    update = install


class Group:
    """[group:<name>] of programs other parts declare; they then belong to this group only."""

    def __init__(self, buildout: Any, name: str, options: MutableMapping[str, str]) -> None:
        with user_errors(name):
            reader = OptionReader(options, GROUP_OPTIONS)
            group = read_group(name, reader)
            reader.done()
        options["group-name"] = group.name
        options["group-programs"] = " ".join(group.programs)
        options["group-priority"] = str(group.priority)

    def install(self) -> list[str]:
        return []

    update = install

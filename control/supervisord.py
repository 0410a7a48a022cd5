"""bin/supervisord: supervisor's own supervisord, with its first scheduling pass at once.

supervisord starts its programs in the first pass of its main loop, which comes only after a
first poll() of one second on its sockets; that second is most of the time from
`bin/supervisord` to the first page served. Here the first poll does not wait, nothing else changes.
"""
from __future__ import annotations

from typing import Any

from supervisor import supervisord


def _runforever(self: Any, _original: Any = supervisord.Supervisor.runforever) -> None:
    poller = self.options.poller
    poll = poller.poll
    first = [True]

    def poll_first_at_once(timeout: float) -> Any:
        if first:
            first.clear()
            return poll(0)
        return poll(timeout)

    poller.poll = poll_first_at_once
    _original(self)


def main(args: list[str] | None = None, test: bool = False) -> None:
    """supervisor.supervisord.main with the quick first pass."""
    supervisord.Supervisor.runforever = _runforever  # type: ignore[method-assign]
    supervisord.main(args, test)

"""bin/supervisord: supervisor's own supervisord, with its first scheduling pass at once.

supervisord starts its programs in the first pass of its main loop, which comes only after a
first poll() of one second on its sockets; that second is most of the time from
`bin/supervisord` to the first page served. This script runs supervisor's own `go(options)` on
options whose poller does not wait on its first poll (`FirstPollAtOnce`); nothing of supervisor is
patched, the wrapper lives on this process's options only. `main` is supervisor's
`supervisord.main` loop (re-read the config on SIGHUP); tests/unit/test_supervisord.py fails when
supervisor's `main`, `go` or the first pass this relies on change.
"""
from __future__ import annotations

from typing import Any

from supervisor import supervisord
from supervisor.options import ServerOptions
from supervisor.states import SupervisorStates


class FirstPollAtOnce:
    """supervisor's poller (options.poller), except that its first poll does not wait."""

    def __init__(self, poller: Any) -> None:
        self.poller = poller
        self.first = True

    def poll(self, timeout: float) -> Any:
        if self.first:
            self.first = False
            timeout = 0
        return self.poller.poll(timeout)

    def __getattr__(self, name: str) -> Any:  # register_readable, close, before_daemonize, ...
        return getattr(self.poller, name)


def main(args: list[str] | None = None, test: bool = False) -> None:
    """supervisor.supervisord.main, each round's options with the quick first poll."""
    first = True
    while True:
        options = ServerOptions()
        options.poller = FirstPollAtOnce(options.poller)
        options.realize(args, doc=supervisord.__doc__)
        options.first = first
        options.test = test
        if options.profile_options:
            sort_order, callers = options.profile_options
            supervisord.profile("go(options)", vars(supervisord), {"options": options}, sort_order, callers)
        else:
            supervisord.go(options)
        options.close_httpservers()
        options.close_logger()
        first = False
        if test or options.mood < SupervisorStates.RESTARTING:
            break

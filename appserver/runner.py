"""Running one app client: load the app, connect to ZEO, serve with waitress, stop cleanly."""
from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import ZODB
from waitress.adjustments import Adjustments
from waitress.server import create_server
from waitress.wasyncore import close_all

from sitestack.appserver.database import StartupError, open_database
from sitestack.appserver.health import DatabaseHealth
from sitestack.appserver.lanes import LanedDispatcher
from sitestack.appserver.settings import Settings, parse_arguments
from sitestack.appserver.wsgi import ClientMiddleware, announce_client, load_application

log = logging.getLogger("appserver")


class Stopped(SystemExit):
    """Raised by the SIGTERM/SIGINT handler; waitress's loop ends on SystemExit."""


def stop_on_signals() -> None:
    """SIGTERM and SIGINT stop the client once; a repeat during shutdown is ignored."""
    stopping = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info("%s received; stopping", signal.Signals(signum).name)
        raise Stopped(0)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def configure_logging(name: str) -> None:
    """One line per event on stderr, which supervisor puts into the client's log."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s %(name)s [{name}] %(message)s",
    )
    # waitress warns "Task queue depth is N" for every request that waits for a free thread: under
    # load a line per request through supervisord's pipe, written while waitress holds its queue
    # lock. haproxy's per-client maxconn keeps that queue short; waitress's errors still log.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


# waitress's worker threads send each response themselves as soon as they write it (send_bytes = 1,
# waitress's default): with more connections than threads, four threads that each send and then wait
# for the GIL again served one client 300-800 requests/s on 2 cores. With send_bytes = 18000 they leave
# responses under 18 KB to the main loop, which sends them: 7,600 req/s at 4 connections, 9,400-11,000
# at 16, and 110 us at 1 connection as before (BENCHMARKS.md, issue 11). waitress marks the option
# deprecated; it is set only while waitress has it (tests/unit/test_appserver.py says when it goes).
SEND_BYTES = 18000


def waitress_options() -> dict[str, Any]:
    """The waitress adjustments the client sets beyond its address and threads."""
    return {"send_bytes": SEND_BYTES} if hasattr(Adjustments, "send_bytes") else {}


def serve(settings: Settings, db: ZODB.DB, app: Any) -> None:
    """Serve app on the listen address until a signal stops the loop."""
    health = DatabaseHealth(db, settings.health_timeout, settings.reconnect_grace)
    wrapped = ClientMiddleware(app, db, settings.name, settings.health_path, health)
    dispatcher = LanedDispatcher(settings.health_path)
    dispatcher.set_thread_count(settings.threads)
    try:
        server: Any = create_server(
            wrapped,
            host=settings.listen.host,
            port=settings.listen.port,
            threads=settings.threads,
            ident="sitestack",
            _dispatcher=dispatcher,
            **waitress_options(),
        )
    except OSError as error:
        dispatcher.shutdown()
        raise StartupError(f"cannot listen on {settings.listen}: {error.strerror or error}") from None
    if settings.start_delay:
        # tests only: bound but not answering yet, like Plone loading its configuration
        log.info("start delay: sleeping %gs after binding %s", settings.start_delay, settings.listen)
        time.sleep(settings.start_delay)
    log.info("serving %s on http://%s (%d threads)", settings.app, settings.listen, settings.threads)
    try:
        server.run()  # returns after a Stopped: waitress catches SystemExit, stops its threads
    finally:
        # Closes the listening socket(s), open channels and waitress's trigger pipe.
        close_all(getattr(server, "map", None) or server._map)


def run(settings: Settings) -> None:
    """Load the app first (a bad --app fails at once), then open the database and serve."""
    started = time.monotonic()
    announce_client(settings.name)
    app = load_application(settings.app)
    db = open_database(settings.zeo, settings.blob_cache, settings.connect_timeout)
    try:
        log.info("database open after %.1fs", time.monotonic() - started)
        serve(settings, db, app)
    finally:
        db.close()
        log.info("database closed")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m sitestack.appserver` and bin/clientN: 0 after a clean stop, 1 if it cannot start."""
    settings = parse_arguments(argv)
    configure_logging(settings.name)
    stop_on_signals()
    try:
        run(settings)
    except Stopped:
        log.info("stopped")
    except StartupError as error:
        print(f"appserver {settings.name}: {error}", file=sys.stderr, flush=True)
        return 1
    return 0

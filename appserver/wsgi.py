"""Loading the WSGI application, and the middleware that hands it the database and the client name."""
from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import ZODB

from sitestack.appserver.database import StartupError
from sitestack.appserver.health import DatabaseHealth

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
DB_KEY = "sitestack.db"
CLIENT_KEY = "sitestack.client"
CLIENT_ENV = "SITESTACK_CLIENT"
# on every health answer: the requests this client is serving now (health checks not counted); the
# restart routine waits for 0 after haproxy has stopped sending it new ones (sitestack.control.agent_drain)
IN_FLIGHT_HEADER = "X-In-Flight"


def announce_client(name: str) -> None:
    """Let the application learn its client name at import time: SITESTACK_CLIENT."""
    os.environ[CLIENT_ENV] = name


def load_application(spec: str) -> WSGIApp:
    """The callable named by MODULE:CALLABLE (CALLABLE may be dotted); StartupError if not there."""
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise StartupError(f"cannot import {module_name!r} (--app {spec}): {error}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise StartupError(f"{module_name!r} has no attribute {attribute!r} (--app {spec})") from None
    if not callable(target):
        raise StartupError(f"{attribute!r} in {module_name!r} is not callable; it is of type "
                           f"{type(target).__name__} (--app {spec})")
    return target  # type: ignore[no-any-return]


class InFlight:
    """A thread-safe count of requests being served."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def add(self, delta: int) -> None:
        with self.lock:
            self.count += delta


class Counted:
    """A response body that counts its request as finished when the server closes it."""

    def __init__(self, body: Iterable[bytes], in_flight: InFlight) -> None:
        self.body, self.in_flight, self.open = body, in_flight, True

    def __iter__(self) -> Any:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if self.open:
                self.open = False
                self.in_flight.add(-1)


class ClientMiddleware:
    """Puts the DB and the client name into every request; answers the health path itself.

    The runner answers health checks so that haproxy can check any application, whether or
    not it has a health page of its own.
    """

    def __init__(self, app: WSGIApp, db: ZODB.DB, name: str, health_path: str, health: DatabaseHealth) -> None:
        self.app, self.db, self.name = app, db, name
        self.health_path, self.health = health_path, health
        self.in_flight = InFlight()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        environ[DB_KEY] = self.db
        environ[CLIENT_KEY] = self.name
        if self.health_path and environ.get("PATH_INFO") == self.health_path:
            return self.answer_health(environ, start_response)
        self.in_flight.add(1)
        try:
            return Counted(self.app(environ, start_response), self.in_flight)
        except BaseException:
            self.in_flight.add(-1)
            raise

    def answer_health(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        """200 'ok <name>' after a database read, 503 with the reason otherwise."""
        problem = self.health.problem()
        if problem is None:
            status, text = "200 OK", f"ok {self.name}\n"
        else:
            status, text = "503 Service Unavailable", f"unavailable {self.name}: {problem}\n"
        body = text.encode("utf-8")
        start_response(status, [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Served-By", self.name),
            (IN_FLIGHT_HEADER, str(self.in_flight.count)),
        ])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

"""The runner's command line, parsed into one frozen Settings."""
from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid

_APP = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Settings:
    """Everything one app client needs to run."""

    name: str
    listen: Address
    zeo: Address
    app: str
    blob_cache: Path
    threads: int = 4
    health_path: str = "/health"
    connect_timeout: float = 60.0
    health_timeout: float = 5.0
    reconnect_grace: float = 15.0
    start_delay: float = 0.0


def address(text: str) -> Address:
    """HOST:PORT or [V6HOST]:PORT, where HOST is an IP address (or localhost): `convert.address`, with
    argparse's error."""
    try:
        return convert.address(text)
    except convert.InvalidHost:
        raise argparse.ArgumentTypeError(f"expected an IP address before the port (got {text!r})") from None
    except Invalid:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 127.0.0.1:8081 (got {text!r})") from None


def application(text: str) -> str:
    """MODULE:CALLABLE, both dotted Python names."""
    if not _APP.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected MODULE:CALLABLE such as sitestack.demoapp:application (got {text!r})")
    return text.strip()


def client_name(text: str) -> str:
    """A client name: letters, digits, '_', '.', '-'."""
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected letters, digits, '_', '.' and '-' (got {text!r})")
    return text


def health_path(text: str) -> str:
    """An absolute URL path, or empty to let the application answer health checks itself."""
    if text and (not text.startswith("/") or any(c.isspace() or c in "?#" for c in text)):
        raise argparse.ArgumentTypeError(f"expected a path such as /health, or '' (got {text!r})")
    return text


def bounded(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:
    """A number converter that accepts low..high."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number from {low} to {high} (got {text!r})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a number from {low} to {high} (got {text!r})")
        return value

    return convert


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; its help is the runner's reference."""
    parser = argparse.ArgumentParser(
        prog="appserver", description="Serve a WSGI application on a ZODB over ZEO with waitress."
    )
    add = parser.add_argument
    add("--name", required=True, type=client_name, help="client name, e.g. client1 (X-Served-By, logs)")
    add("--listen", required=True, type=address, help="HOST:PORT to serve HTTP on")
    add("--zeo", required=True, type=address, help="HOST:PORT of the ZEO server")
    add("--blob-cache", required=True, type=Path, help="this client's own blob cache directory")
    add("--app", default="sitestack.demoapp:application", type=application, help="WSGI callable as MODULE:CALLABLE")
    add("--threads", default=4, type=bounded(int, 1, 256), help="waitress worker threads (default 4)")
    add("--health-path", default="/health", type=health_path,
        help="path the runner answers after a database read (default /health; '' = leave it to the app)")
    add("--connect-timeout", default=60.0, type=bounded(float, 0, 86400),
        help="seconds to keep retrying the ZEO server at start (default 60)")
    add("--health-timeout", default=5.0, type=bounded(float, 0.1, 300),
        help="seconds a health check may wait for the database (default 5)")
    add("--reconnect-grace", default=15.0, type=bounded(float, 0, 3600),
        help="seconds a lost ZEO connection still counts as healthy while requests wait for it (default 15)")
    add("--start-delay", default=0.0, type=bounded(float, 0, 3600),
        help="tests only: seconds to sleep after binding the port before answering (default 0)")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> Settings:
    """Settings from the command line; argparse exits 2 with a message on a bad argument."""
    args = build_parser().parse_args(argv)
    return Settings(
        name=args.name,
        listen=args.listen,
        zeo=args.zeo,
        app=args.app,
        blob_cache=args.blob_cache.absolute(),
        threads=args.threads,
        health_path=args.health_path,
        connect_timeout=args.connect_timeout,
        health_timeout=args.health_timeout,
        reconnect_grace=args.reconnect_grace,
        start_delay=args.start_delay,
    )

"""When a restarted client counts as ready: it answers, it is warm, and haproxy has it fully back.

Pure helpers for sitestack.control.restart: the default warm-up pages (those its health URL belongs to)
and the reading of haproxy's server state (UP, slow start over).
"""
from __future__ import annotations

from urllib.parse import urlsplit


def warmup_paths(health_url: str) -> tuple[str, ...]:
    """The page a health URL belongs to: /Plone/@@ok -> /Plone, /health -> /; none without a URL."""
    if not health_url:
        return ()
    path = urlsplit(health_url).path or "/"
    parent = path.rstrip("/").rsplit("/", 1)[0]
    return (parent or "/",)


def fully_up(status: str, throttle: int | None) -> bool:
    """haproxy has the server UP and its slow start is over (no throttle, or 100%)."""
    return status.startswith("UP") and "going down" not in status and (throttle is None or throttle >= 100)

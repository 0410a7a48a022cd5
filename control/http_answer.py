"""One GET and what came back: the health checks, the restart's wait and warm-up, status, the exporter.

    answer = get("http://127.0.0.1:8081/health", timeout=2.0)
    answer.status   # 200, 503, ... or 0 when nothing answered (refused, timed out, a broken answer)
    answer.body     # the start of the body (`limit` bytes), decoded leniently
    answer.error    # why nothing answered, when status is 0
"""
from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """The status of a GET (0: no answer), the start of its body, and why there was no answer."""

    status: int
    body: str = ""
    error: str = ""


def get(url: str, timeout: float, limit: int = 65536) -> Answer:
    """GET url; read at most `limit` bytes of the body (-1: all of it, e.g. to warm a cache up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(limit) if limit >= 0 else response.read()
            return Answer(int(response.status), body.decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return Answer(int(error.code))
    except (OSError, ValueError, http.client.HTTPException) as error:
        return Answer(0, error=str(error))

"""bin/sitestack requests: the last requests haproxy served, from its in-memory ring."""
from __future__ import annotations

import argparse
import sys

from sitestack.control.haproxy_runtime import RuntimeSocket
from sitestack.control.site import Site

describe = "the last requests haproxy served (needs [haproxy] request-log = ring)"
NO_RING = "haproxy keeps no request ring; set [haproxy] request-log = ring, then bin/buildout && bin/sitestack reload"


def show(socket_path: str, backend: str = "clients") -> tuple[str, int]:
    """(text to print, exit status): the ring's lines oldest first, or why there are none."""
    answer = RuntimeSocket(socket_path, backend).command("show events requests")
    if answer.strip() == "No such event sink":
        return NO_RING, 1
    return answer.rstrip("\n"), 0


def main(site: Site, argv: list[str]) -> int:
    argparse.ArgumentParser(prog="sitestack requests", description=describe).parse_args(argv)
    if site.balancer is None:
        print("this site has no haproxy part", file=sys.stderr)
        return 1
    try:
        text, status = show(site.balancer.socket, site.balancer.backend)
    except OSError as error:
        print(f"cannot reach haproxy at {site.balancer.socket}: {error}", file=sys.stderr)
        return 1
    print(text, file=sys.stderr if status else sys.stdout)
    return status

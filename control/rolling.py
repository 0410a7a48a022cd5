"""bin/sitestack rolling-restart: every app client restarted in turn, none of its requests lost."""
from __future__ import annotations

import argparse

from sitestack.control.restart import Policy, restart_client
from sitestack.control.site import Site, SiteProgram

describe = "restart every app client in turn: drain in haproxy, restart, wait for health, put back"


def clients(site: Site) -> list[SiteProgram]:
    """The balanced clients in priority order (haproxy's servers; without a balancer, watched programs)."""
    servers = set(site.balancer.servers) if site.balancer else set()
    chosen = [p for p in site.programs if p.name in servers] if servers else \
        [p for p in site.programs if p.watchdog and p.health_url]
    return sorted(chosen, key=lambda p: (p.priority, p.name))


def main(site: Site, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sitestack rolling-restart", description=describe)
    parser.add_argument("names", nargs="*", help="only these clients (default: all)")
    parser.add_argument("--warmup", action="append", default=[], metavar="PATH",
                        help="request PATH on each client before it is put back (repeatable)")
    parser.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="longest wait for a client's in-flight requests (default 10)")
    parser.add_argument("--wait", type=float, default=120.0, metavar="SECONDS",
                        help="longest wait for a turn while another client is out of rotation (default 120)")
    options = parser.parse_args(argv)
    chosen = clients(site)
    if options.names:
        unknown = [n for n in options.names if n not in {p.name for p in chosen} | {p.namespec for p in chosen}]
        if unknown:
            parser.error(f"not a client: {unknown[0]} (clients: {' '.join(p.name for p in chosen)})")
        chosen = [p for p in chosen if p.name in options.names or p.namespec in options.names]
    policy = Policy(automatic=False, wait_turn=options.wait, drain_timeout=options.drain_timeout,
                    warmup=tuple(options.warmup))
    rpc = site.rpc()
    for number, program in enumerate(chosen, 1):
        step = f"[{number}/{len(chosen)}]"
        print(f"{step} {program.namespec}: restarting", flush=True)
        result = restart_client(site, program.namespec, "rolling restart", policy, rpc=rpc,
                                progress=lambda message: print(f"{step} {message}", flush=True))
        print(f"{step} {result.describe()}", flush=True)
        if not result.ok:
            print(f"rolling-restart: stopped at {program.namespec}; the clients after it were not restarted",
                  flush=True)
            return 1
    print(f"rolling-restart: {len(chosen)} client(s) restarted", flush=True)
    return 0

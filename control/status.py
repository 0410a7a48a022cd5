"""bin/sitestack status: every program's state, PID and health, in priority order."""
from __future__ import annotations

import argparse
import urllib.error
import urllib.request

from control.site import Site

describe = "every program with its supervisor state and, for clients, its health URL's answer"


def health(url: str, timeout: float = 2.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except OSError as error:
        return f"unreachable ({error})"


def main(site: Site, argv: list[str]) -> int:
    argparse.ArgumentParser(prog="sitestack status", description=describe).parse_args(argv)
    infos = {f"{i['group']}:{i['name']}": i for i in site.rpc().supervisor.getAllProcessInfo()}
    problems = 0
    for program in sorted(site.programs, key=lambda p: (p.priority, p.name)):
        info = infos.get(program.namespec, {})
        state = info.get("statename", "UNKNOWN")
        line = f"{program.namespec:<28} {state:<9} pid {info.get('pid', 0):<7}"
        if program.health_url and program.watchdog:
            answer = health(program.health_url)
            line += f" health {answer}"
            problems += answer != "200"
        problems += state != "RUNNING"
        print(line)
    from control.backups import status_line

    if backups := status_line(site):
        print(backups)
    return 1 if problems else 0

"""bin/sitestack check: validate a built site without starting it.

Each generated file goes through its real consumer (supervisor's parser, `haproxy -c`,
`varnishd -C`); every port is free or held by this site's running stack; every program's
binary is there; and the security defaults hold. One line per finding, exit 1 on any FAIL.
Every path and name comes from site.json (control/checks/: one module per consumer).
"""
from __future__ import annotations

import argparse

from sitestack.control.checks import FAIL, WARN, Finding
from sitestack.control.checks.haproxy import check_haproxy
from sitestack.control.checks.ports import check_ports, site_addresses, supervisord_pid
from sitestack.control.checks.programs import check_binaries, commands
from sitestack.control.checks.security import check_security
from sitestack.control.checks.supervisord import check_supervisord_conf
from sitestack.control.checks.varnish import check_varnish
from sitestack.control.site import Site

describe = "validate the built site without starting it: configs through their consumers, ports, binaries, security"


def check_site(site: Site) -> list[Finding]:
    """Every finding, in a fixed order."""
    findings = [check_supervisord_conf(site.supervisord_conf), *check_haproxy(site), *check_varnish(site),
                *check_binaries(commands(site))]
    findings += check_ports(site_addresses(site), supervisord_pid(site))
    findings += check_security(site)
    from sitestack.control.backups import check_finding

    if backups := check_finding(site):
        findings.append(Finding(*backups))
    return findings


def main(site: Site, argv: list[str]) -> int:
    argparse.ArgumentParser(prog="sitestack check", description=describe).parse_args(argv)
    findings = check_site(site)
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.status == FAIL]
    warned = [f for f in findings if f.status == WARN]
    print(f"{len(findings)} checks: {len(failed)} failed, {len(warned)} warnings")
    return 1 if failed else 0

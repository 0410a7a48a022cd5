"""bin/sitestack check's findings and reload's digest history, on small files (no stack)."""
from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

from sitestack.control import reload
from sitestack.control.checks import FAIL, OK, Finding
from sitestack.control.checks.ports import check_ports, cmdline
from sitestack.control.checks.programs import Command, check_binaries
from sitestack.control.checks.security import check_security
from sitestack.control.site import ControlServer, Site, SiteProgram
from sitestack.recipes import digests
from sitestack.recipes.address import Address
from support import free_port


def site_with(tmp_path: Path, control: ControlServer, user: str) -> Site:
    """A site as site.json describes it, with a supervisord.conf of mode 0600."""
    path = tmp_path / "supervisord.conf"
    path.write_text("[supervisord]\n")
    path.chmod(0o600)
    client = SiteProgram("client1", "", 20, "http://127.0.0.1:1/health", Address("127.0.0.1", 1), True, command="/bin/true",
                         user=user)
    return Site(tmp_path, path, (client,), control_server=dataclasses.replace(control, conf=str(path)))


def findings(site: Site) -> list[Finding]:
    return list(check_security(site))


def test_private_socket_and_unprivileged_client_pass(tmp_path):
    site = site_with(tmp_path, ControlServer("", socket="/x.sock", socket_mode="0700", pidfile="/x.pid",
                                             supervisord_user="root"), user="sitestack")
    assert [f for f in findings(site) if f.status != OK] == []


def test_open_socket_open_conf_inet_without_password_and_root_client_fail(tmp_path):
    site = site_with(tmp_path, ControlServer("", socket="/x.sock", socket_mode="0777", port=Address("127.0.0.1", 9001),
                                             pidfile="/x.pid", supervisord_user="root"), user="")
    site.supervisord_conf.chmod(0o644)
    failed = [f.line() for f in findings(site) if f.status == FAIL]
    assert failed == [
        "FAIL  control socket /x.sock: mode 0777: other users could control supervisord (expected 0700)",
        "FAIL  control port 127.0.0.1:9001: no password: anyone who reaches it controls every program",
        f"FAIL  supervisord.conf (holds the control password) {site.supervisord_conf}: mode 0644; expected 0600",
        "FAIL  client1: user: serves HTTP and runs as root (set [site] user)",
    ]


def test_a_port_held_by_another_process_fails_a_free_one_passes():
    port, free = free_port(), free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        found = list(check_ports({Address("127.0.0.1", port): "haproxy", Address("127.0.0.1", free): "varnish"}, None))
    assert [f.line() for f in found] == [
        f"FAIL  port 127.0.0.1:{port} (haproxy): in use by pid {os.getpid()} ({cmdline(os.getpid())})",
        f"ok    port 127.0.0.1:{free} (varnish): free",
    ]


def test_a_missing_binary_fails():
    found = list(check_binaries([Command("ghost", ("/nowhere/ghost", "-x"), "")]))
    assert found[0].line() == "FAIL  ghost: binary: /nowhere/ghost not found or not executable"


def test_digest_history_says_what_a_process_started_from(tmp_path):
    script = tmp_path / "bin" / "client1"
    conf = tmp_path / "parts" / "zeo.conf"
    script.parent.mkdir()
    conf.parent.mkdir()
    conf.write_text("a")
    script.write_text(f"#!/bin/sh\nexec x '-C' '{conf}'\n")
    history_file = tmp_path / "digests.json"
    first = digests.record(history_file, {"client1": str(script)}, tmp_path, now=100.0)
    assert digests.program_files(str(script), tmp_path) == [script, conf]
    history_file.write_text(__import__("json").dumps(first))
    assert digests.record(history_file, {"client1": str(script)}, tmp_path, now=150.0) == first  # unchanged
    conf.write_text("b")  # a file the script names changed
    second = digests.record(history_file, {"client1": str(script)}, tmp_path, now=200.0)
    assert len(second["client1"]) == 2
    assert digests.digest_at(second, "client1", 150.0) == first["client1"][0][1]
    assert digests.digest_at(second, "client1", 250.0) == second["client1"][1][1]
    assert digests.digest_at(second, "client1", 50.0) is None


def test_this_process_is_stale_only_against_a_later_digest(tmp_path):
    start = reload.started_at(os.getpid())
    assert start is not None
    history = {"me": [[start - 10, "old"]]}
    assert not reload.stale(history, "me", os.getpid())
    history["me"].append([start + 1, "new"])
    assert reload.stale(history, "me", os.getpid())

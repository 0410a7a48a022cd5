"""bin/sitestack check's findings and reload's digest history, on small files (no stack)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from control import check, reload
from control.site import Site, SiteProgram
from recipes import digests
from support import free_port


def site_with(tmp_path: Path, conf: str) -> Site:
    path = tmp_path / "supervisord.conf"
    path.write_text(conf)
    path.chmod(0o600)
    return Site(tmp_path, path, (SiteProgram("client1", "", 20, "http://127.0.0.1:1/health", "127.0.0.1:1", True),))


def findings(site: Site) -> list[check.Finding]:
    conf = check.read_conf(site.supervisord_conf)
    return list(check.check_security(site, conf, check.commands(conf)))


def test_private_socket_and_unprivileged_client_pass(tmp_path):
    site = site_with(tmp_path, "[supervisord]\nuser = root\n[unix_http_server]\nfile = /x.sock\nchmod = 0700\n"
                               "[program:client1]\ncommand = /bin/true\nuser = sitestack\n")
    assert [f for f in findings(site) if f.status != check.OK] == []


def test_open_socket_open_conf_inet_without_password_and_root_client_fail(tmp_path):
    site = site_with(tmp_path, "[supervisord]\nuser = root\n[unix_http_server]\nfile = /x.sock\nchmod = 0777\n"
                               "[inet_http_server]\nport = 127.0.0.1:9001\n[program:client1]\ncommand = /bin/true\n")
    site.supervisord_conf.chmod(0o644)
    failed = [f.line() for f in findings(site) if f.status == check.FAIL]
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
        found = list(check.check_ports({f"127.0.0.1:{port}": "haproxy", f"127.0.0.1:{free}": "varnish"}, None))
    assert [f.line() for f in found] == [
        f"FAIL  port 127.0.0.1:{port} (haproxy): in use by pid {os.getpid()} ({check.cmdline(os.getpid())})",
        f"ok    port 127.0.0.1:{free} (varnish): free",
    ]


def test_a_missing_binary_fails():
    found = list(check.check_binaries([check.Command("ghost", ("/nowhere/ghost", "-x"), "")]))
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

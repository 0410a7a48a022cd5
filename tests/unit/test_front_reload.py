"""bin/sitestack reload's front part: which programs are reloaded rather than restarted, and when."""
from __future__ import annotations

import os
import time

import pytest

from sitestack.control import front
from sitestack.control.reload import stale


def test_haproxy_and_varnishd_are_recognised_by_their_binary():
    assert front.kind_of("/usr/sbin/haproxy -W -db -f /srv/parts/haproxy/haproxy.cfg") == "haproxy"
    assert front.kind_of("/usr/sbin/varnishd -F -a 127.0.0.1:8080 -f /srv/v.vcl") == "varnishd"
    assert front.kind_of("/srv/bin/client1") is None
    assert front.kind_of("") is None


def test_a_missing_option_is_one_clear_error():
    assert front.flag(["varnishd", "-T", "127.0.0.1:6082"], "-T") == "127.0.0.1:6082"
    with pytest.raises(front.FrontError, match="the command has no -S option: varnishd -T 127.0.0.1:6082"):
        front.flag(["varnishd", "-T", "127.0.0.1:6082"], "-S")


def test_a_broken_haproxy_cfg_is_refused_before_any_signal(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text("global\n    no-such-keyword\n")

    class Refuse:
        def __getattr__(self, name):
            raise AssertionError("haproxy was signalled despite a broken haproxy.cfg")

    with pytest.raises(front.FrontError, match="exited"):
        front.reload_haproxy(Refuse(), "front:haproxy", f"/usr/sbin/haproxy -W -db -f {config}", str(tmp_path / "s"))


def test_a_reloaded_program_is_stale_again_only_when_its_files_change_after_the_reload():
    pid = os.getpid()
    history = {"haproxy": [[time.time() - 3600, "old"], [time.time(), "new"]]}
    assert stale(history, "haproxy", pid)  # this process started before "new"
    assert not stale(history, "haproxy", pid, {"haproxy": [pid, "new"]})  # reloaded to it
    assert stale(history, "haproxy", pid, {"haproxy": [pid, "old"]})
    # a record of another (earlier) process does not count for this one
    assert stale(history, "haproxy", pid, {"haproxy": [pid + 1, "new"]})

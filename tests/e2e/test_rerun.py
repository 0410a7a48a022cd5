"""Re-runs on a running stack: one client's option changed -> bin/buildout -> bin/sitestack reload restarts
only that client; programs added and removed; the crontab part removed removes exactly its block."""
from __future__ import annotations

import re
import subprocess

import pytest

from sitestack.control.processes import environ
from sitestack.recipes.crontab_model import block_key, remove
from support import poll_for

pytestmark = pytest.mark.e2e


def pids(stack) -> dict[str, int]:
    return {f"{i['group']}:{i['name']}": i["pid"] for i in stack.info() if i["statename"] == "RUNNING"}


def reload(site) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(site.path / "bin" / "sitestack"), "reload"], capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_reload_restarts_only_what_changed(site, stack):
    config = site.path / "buildout.cfg"
    good = config.read_text()
    try:
        poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
        before = pids(stack)

        # nothing changed: reload restarts nothing
        assert "restarting" not in reload(site).stdout
        assert pids(stack) == before

        # one client's option: only bin/client2 is rewritten, only client2 restarts
        config.write_text(good + "\n[clients]\nclient2-threads = 2\n")
        site.buildout()
        assert "--threads', '2'" in (site.path / "bin" / "client2").read_text()
        assert "--threads', '2'" not in (site.path / "bin" / "client1").read_text()
        out = reload(site).stdout
        assert "restarting zeo-clients:client2" in out and out.count("restarting ") == 1, out
        poll_for(stack.all_running, 90, "every program RUNNING after the reload", stack.explain)
        after = pids(stack)
        assert after["zeo-clients:client2"] != before["zeo-clients:client2"], out
        assert {k: v for k, v in after.items() if k != "zeo-clients:client2"} == \
               {k: v for k, v in before.items() if k != "zeo-clients:client2"}, (before, after, out)

        # a program added (client3, with whatever listeners watch it), then removed again
        before = pids(stack)
        watchdog_log = site.path / "var" / "log" / "watchdog.log"
        seen = len(watchdog_log.read_text())
        config.write_text(good.replace("clients = 2", "clients = 3", 1))
        site.buildout()
        out = reload(site).stdout
        infos = poll_for(stack.all_running, 90, "every program RUNNING with client3", stack.explain)
        names = {f"{i['group']}:{i['name']}" for i in infos}
        assert "zeo-clients:client3" in names, (names, out)
        # client3 joins the running group (sitestack.updateGroup) and haproxy reloads; client2 restarts
        # only because its threads option went back to the default with this config; the agent restarts
        # with its new script, which answers haproxy's agent-check for client3 too; the watchdog keeps
        # running (its section did not change) and reads its new rules, which watch client3 too, from
        # the site.json bin/buildout rewrote
        assert "adding zeo-clients:client3 (the other members keep running)" in out, out
        assert "restarting agent:agent: its command or files changed since it started" in out, out
        assert "haproxy reloaded seamlessly" in out and out.count("restarting zeo-clients:") == 1, out
        assert out.count("restarting ") == 2, out
        poll_for(lambda: "httpok -p client3 " in watchdog_log.read_text()[seen:], 30,
                 "the watchdog reading its rules for client3 from site.json", lambda: watchdog_log.read_text()[-2000:])
        assert re.search(r"watchdog: rules changed in \S+site\.json: --grace \S+ :: memmon -g zeo-clients=\S+ .*"
                         r":: httpok -p client3 -t \S+ http://127\.0\.0\.1:\d+/\S*\n",
                         watchdog_log.read_text()[seen:]), watchdog_log.read_text()[seen:]
        now = pids(stack)
        for kept in ("zeo-cluster:zeoserver", "front:varnish", "front:haproxy", "zeo-clients:client1",
                     "watchdog:watchdog"):
            assert now[kept] == after[kept], (kept, out)

        config.write_text(good)
        seen = len(watchdog_log.read_text())
        site.buildout()
        out = reload(site).stdout
        # the watchdog reads its rules without client3
        changed = poll_for(lambda: re.search(r"rules changed in .*\n", watchdog_log.read_text()[seen:]), 30,
                           "the watchdog reading its rules without client3", lambda: watchdog_log.read_text()[-2000:])
        assert "client3" not in changed.group(0) and "httpok -p client2 " in changed.group(0), changed.group(0)
        names = {f"{i['group']}:{i['name']}" for i in stack.info()}
        assert "zeo-clients:client3" not in names and not any("client3" in n for n in names), (names, out)
        poll_for(stack.all_running, 90, "every program RUNNING after client3 left", stack.explain)
        left = pids(stack)
        assert {k: left[k] for k in ("zeo-clients:client1", "zeo-clients:client2", "front:haproxy")} == \
            {k: now[k] for k in ("zeo-clients:client1", "zeo-clients:client2", "front:haproxy")}, out
    finally:
        config.write_text(good)
        site.buildout()


def test_removing_the_crontab_part_removes_exactly_its_block(site):
    config = site.path / "buildout.cfg"
    good = config.read_text()
    with_block = site.crontab.read_text()
    assert "@reboot" in with_block
    try:
        config.write_text(good.replace("[buildout]\n", "[buildout]\nparts -= crontab\n", 1))
        site.buildout()
        # the backup part's block (its own cron lines) stays
        assert site.crontab.read_text() == remove(with_block, block_key(str(site.path), "crontab"))
        assert site.crontab.read_text().startswith("# a line of the user's own\n# sitestack [backup] ")
    finally:
        config.write_text(good)
        site.buildout()
    assert site.crontab.read_text() == with_block


def test_reload_re_adds_a_changed_group_one_client_at_a_time(site, stack):
    """Both clients' supervisord.conf sections change: they restart in turn, drained, under the mixed load."""
    from e2e.underload import assert_nothing_lost, under_load

    config = site.path / "buildout.cfg"
    good = config.read_text()
    try:
        poll_for(stack.all_running, 90, "every program RUNNING", stack.explain)
        before = pids(stack)
        config.write_text(good + "\n[clients]\ntest-memory-growth = true\n")  # an environment= line in both
        site.buildout()
        outs: list[str] = []
        result = under_load(f"http://127.0.0.1:{site.ports.varnish}", "reload of a changed group",
                            lambda load: outs.append(reload(site).stdout), stack.all_running)
        out = outs[0]
        assert out.index("restarting zeo-clients:client1: its supervisord.conf section changed") < \
            out.index("zeo-clients:client1: back in rotation") < \
            out.index("restarting zeo-clients:client2: its supervisord.conf section changed"), out
        after = pids(stack)
        assert all(after[c] != before[c] for c in ("zeo-clients:client1", "zeo-clients:client2")), out
        assert after["zeo-cluster:zeoserver"] == before["zeo-cluster:zeoserver"], out
        info = stack.rpc().supervisor.getProcessInfo("zeo-clients:client1")
        assert environ(info["pid"]).get("SITESTACK_TEST_MEMORY_GROWTH") == "1"  # it runs from the new section
        assert_nothing_lost(result)
    finally:
        config.write_text(good)
        site.buildout()
        reload(site)

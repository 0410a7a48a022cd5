"""The rules a watchdog applies: site.json's default rules (sitestack-watchdog only) and those a user
writes on its command line; logged in its command-line grammar; read again when site.json changes."""
from __future__ import annotations

import io
import shlex

import pytest

from sitestack.listeners.command_line import parse_command_line
from sitestack.listeners.rules import MemoryRules
from sitestack.listeners.ruleset import DEFAULT_GRACE, Ruleset, describe, ruleset
from sitestack.listeners.watchdog import Watchdog
from sitestack.recipes.description import HealthCheck, MemoryQuotas, Site, WatchdogRules

MB = 2**20


def site_with(rules: WatchdogRules | None, directory="/srv") -> Site:
    """A site as site.json gives it back to the watchdog."""
    return Site.loads(Site(directory, "/srv/parts/supervisor/supervisord.conf", (), watchdog=rules).dumps())


DEFAULTS = WatchdogRules(MemoryQuotas(groups=(("zeo-clients", 800 * MB),)),
                         (HealthCheck("http://127.0.0.1:8081/health", ("client1",), 2.0),), 30)


@pytest.mark.parametrize(("argv", "kind", "expected"), [
    # sitestack-watchdog: site.json's rules, then those of its command line; --grace there wins
    (["--grace", "5", "::", "memmon", "-g", "zeo-clients=1GB"], "",
     "--grace 5 :: memmon -g zeo-clients=800MB :: memmon -g zeo-clients=1GB "
     ":: httpok -p client1 -t 2 http://127.0.0.1:8081/health"),
    ([], "", "--grace 30 :: memmon -g zeo-clients=800MB :: httpok -p client1 -t 2 http://127.0.0.1:8081/health"),
    # sitestack-memmon, sitestack-httpok: their own superlance command line only
    (["-g", "zeo-clients=1GB"], "memmon", "--grace 10 :: memmon -g zeo-clients=1GB"),
    (["-p", "client2", "http://127.0.0.1:8082/"], "httpok", "--grace 10 :: httpok -p client2 -t 10 http://127.0.0.1:8082/"),
])
def test_site_json_rules_and_command_line_rules_combined(argv, kind, expected):
    assert describe(ruleset(parse_command_line(["--site", "/s.json", *argv], kind), site_with(DEFAULTS))) == expected


def test_a_site_without_a_default_watchdog_gives_only_the_command_line_rules():
    settings = parse_command_line(["--site", "/s.json", "::", "memmon", "-a", "1GB"])
    assert ruleset(settings, site_with(None)) == Ruleset((MemoryRules(any=1024 * MB),), (), DEFAULT_GRACE)


def test_every_flag_a_user_writes_is_logged_as_it_reads_back():
    argv = ["--grace", "2.5", "::", "memmon", "-c", "-g", "g=1GB", "-p", "p=3KB", "-a", "7", "-m", "a@b.c",
            "-s", "/bin/mail me", "-u", "60", "-n", "Mem",
            "::", "httpok", "-p", "c1", "-p", "g:c2", "-a", "-t", "4", "-c", "200", "-c", "204", "-b", "ok it",
            "-m", "a@b.c", "-s", "/bin/true", "-E", "-n", "web", "http://127.0.0.1:1/ok"]
    settings = parse_command_line(["--site", "/s.json", *argv])
    applied = ruleset(settings, site_with(None))
    again = ruleset(parse_command_line(["--site", "/s.json", *shlex.split(describe(applied))]), site_with(None))
    assert again == applied and applied.memory[0].any == 7 and applied.health[0].eager is False


class NoSupervisor:
    """The watchdog's rpc, for a test that never ticks through supervisor."""


def test_a_rewritten_site_json_gives_the_running_watchdog_its_new_quota(tmp_path):
    path = tmp_path / "site.json"
    path.write_text(site_with(DEFAULTS, tmp_path).dumps())
    log = io.StringIO()
    watchdog = Watchdog(parse_command_line(["--site", str(path)]), Site.load(path), NoSupervisor(), log,
                        path.read_text())
    assert watchdog.rules.memory[0].groups == (("zeo-clients", 800 * MB),)
    watchdog.refresh()
    assert log.getvalue() == ""  # unchanged: nothing re-read, nothing said

    quota = WatchdogRules(MemoryQuotas(groups=(("zeo-clients", 600 * MB),)), DEFAULTS.health, 30)
    path.write_text(site_with(quota, tmp_path).dumps())
    watchdog.refresh()
    assert watchdog.rules.memory[0].groups == (("zeo-clients", 600 * MB),)
    assert log.getvalue().endswith(f"watchdog: rules changed in {path}: --grace 30 :: memmon -g zeo-clients=600MB "
                                   ":: httpok -p client1 -t 2 http://127.0.0.1:8081/health\n"), log.getvalue()

    # a site.json that cannot be read (a re-run under way, a bad edit) keeps the rules, said once
    path.write_text("{")
    watchdog.refresh()
    watchdog.refresh()
    assert watchdog.rules.memory[0].groups == (("zeo-clients", 600 * MB),)
    assert log.getvalue().count("cannot read") == 1, log.getvalue()
    path.unlink()
    watchdog.refresh()
    assert log.getvalue().count("cannot read") == 1, log.getvalue()
    path.write_text(site_with(quota, tmp_path).dumps())
    watchdog.refresh()
    assert "rules changed" not in log.getvalue().splitlines()[-1]

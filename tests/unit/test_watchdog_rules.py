"""The default watchdog rules: typed, written into site.json by the build, read back by the watchdog
exactly, and logged in its command-line grammar."""
from __future__ import annotations

import shlex

from sitestack.listeners.command_line import parse_command_line
from sitestack.listeners.rules import HealthWatch, MemoryRules
from sitestack.listeners.ruleset import Ruleset, describe, ruleset
from sitestack.recipes.description import HealthCheck, MemoryQuotas, Site, WatchdogRules
from sitestack.recipes.supervisor_model import Group, Program
from sitestack.recipes.watchdog_rules import default_rules

MB = 2**20


def site_with(rules: WatchdogRules | None, directory="/srv") -> Site:
    """A site as site.json gives it back to the watchdog."""
    return Site.loads(Site(directory, "/srv/parts/supervisor/supervisord.conf", (), watchdog=rules).dumps())


def test_the_watchdog_reads_exactly_the_rules_the_build_wrote_into_site_json():
    programs = [
        Program("client1", "/srv/bin/client1", 20, health_url="http://127.0.0.1:8081/health", memory_quota=800 * MB,
                watchdog=True),
        Program("client2", "/srv/bin/client2", 20, health_url="http://127.0.0.1:8082/health", memory_quota=800 * MB,
                watchdog=True),
        Program("worker", "/srv/bin/worker", 25, memory_quota=300 * MB,
                settings=(("numprocs", "2"), ("process_name", "%(program_name)s_%(process_num)02d"))),
        Program("haproxy", "/usr/sbin/haproxy", 30, health_url="http://127.0.0.1:8070/haproxy-health"),
    ]
    groups = [Group("zeo-clients", 20, ("client1", "client2")), Group("workers", 25, ("worker",))]
    rules = default_rules(programs, groups, timeout=2, email="ops@example.com", grace=30)
    assert rules == WatchdogRules(
        MemoryQuotas(groups=(("zeo-clients", 800 * MB), ("workers", 300 * MB)), email="ops@example.com"),
        (HealthCheck("http://127.0.0.1:8081/health", ("client1",), 2.0, "ops@example.com"),
         HealthCheck("http://127.0.0.1:8082/health", ("client2",), 2.0, "ops@example.com")),
        30,
    )
    applied = ruleset(parse_command_line(["--site", "/srv/parts/supervisor/site.json"]), site_with(rules))
    assert applied == Ruleset(
        (MemoryRules(groups=(("zeo-clients", 800 * MB), ("workers", 300 * MB)), email="ops@example.com"),),
        (HealthWatch("http://127.0.0.1:8081/health", ("client1",), timeout=2.0, email="ops@example.com"),
         HealthWatch("http://127.0.0.1:8082/health", ("client2",), timeout=2.0, email="ops@example.com")),
        30.0,
    )
    # what its log says is its own command-line grammar, and reads back as the same rules
    text = describe(applied)
    assert text == ("--grace 30 :: memmon -g zeo-clients=800MB -g workers=300MB -m ops@example.com "
                    ":: httpok -p client1 -t 2 -m ops@example.com http://127.0.0.1:8081/health "
                    ":: httpok -p client2 -t 2 -m ops@example.com http://127.0.0.1:8082/health")
    decoded = parse_command_line(["--site", "/s.json", *shlex.split(text)])
    assert (decoded.grace, tuple(decoded.memory), tuple(decoded.health)) == (30, applied.memory, applied.health)


def test_a_pool_without_a_shared_group_quota_is_named_per_process():
    worker = Program("worker", "/srv/bin/worker", 25, memory_quota=300 * MB,
                     settings=(("numprocs", "2"), ("process_name", "%(program_name)s_%(process_num)02d")))
    other = Program("other", "/srv/bin/other", 25, memory_quota=100 * MB)
    rules = default_rules([worker, other], [Group("workers", 25, ("worker", "other"))], timeout=2, email="")
    assert rules == WatchdogRules(MemoryQuotas(programs=(
        ("workers:worker_00", 300 * MB), ("workers:worker_01", 300 * MB), ("other", 100 * MB))))
    applied = ruleset(parse_command_line(["--site", "/s.json"]), site_with(rules))
    assert describe(applied) == ("--grace 10 :: memmon -p workers:worker_00=300MB -p workers:worker_01=300MB "
                                 "-p other=100MB")


def test_no_quota_and_no_watched_url_means_no_watchdog():
    assert not default_rules([Program("zeo", "/srv/bin/zeo", 10)], [], timeout=2, email="", grace=5)

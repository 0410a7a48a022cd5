"""sitestack's listeners: superlance's memmon/httpok flags, with superlance's bugs fixed."""
import pytest

from sitestack.listeners.rules import (
    HealthWatch, MemoryRules, Process, UsageError, Verdicts, in_grace, over_quota, parse_httpok, parse_memmon,
)
from sitestack.listeners.command_line import parse_command_line

MB = 1024**2


def proc(group, name, pid, state="RUNNING", start=0.0, now=0.0):
    return Process(group, name, pid, state, start, now)


def test_memmon_flags_keep_superlance_meaning():
    rules = parse_memmon(["-c", "-p", "zeo-clients:client1=100MB", "-g", "zeo-clients=800MB", "-a", "1GB",
                          "-m", "ops@example.com", "-u", "1h", "-n", "Project 1", "-s", "/bin/true"])
    assert rules == MemoryRules(programs=(("zeo-clients:client1", 100 * MB),), groups=(("zeo-clients", 800 * MB),),
                                any=1024 * MB, cumulative=True, sendmail="/bin/true", email="ops@example.com",
                                uptime_limit=3600, name="Project 1")


def test_n_is_not_overwritten_by_the_last_p_or_g():
    assert parse_memmon(["-n", "mine", "-p", "client1=1MB", "-g", "g=2MB"]).name == "mine"


def test_group_name_spec_works_and_the_most_specific_quota_wins_once_per_tick():
    rules = parse_memmon(["-p", "zeo-clients:client1=100MB", "-g", "zeo-clients=800MB", "-p", "client2=50MB"])
    processes = [proc("zeo-clients", "client1", 11), proc("zeo-clients", "client2", 12),
                 proc("zeo-clients", "client3", 13), proc("pool", "worker_00", 14)]
    rss = {11: 200 * MB, 12: 60 * MB, 13: 700 * MB, 14: 900 * MB}
    assert [(p.namespec, q) for p, _, q in over_quota(rules, processes, rss)] == [
        ("zeo-clients:client1", 100 * MB), ("zeo-clients:client2", 50 * MB)]
    # a process matched by -p and -g appears once; a numprocs pool member matches its group
    pool = parse_memmon(["-g", "pool=500MB", "-p", "pool:worker_00=400MB"])
    assert [(p.name, q) for p, _, q in over_quota(pool, processes, rss)] == [("worker_00", 400 * MB)]


def test_only_running_processes_are_restarted():
    rules = parse_memmon(["-a", "1MB"])
    assert over_quota(rules, [proc("g", "a", 1, "STARTING")], {1: 5 * MB}) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["-p", "client1"], "-p: expected name=size such as zeo-clients=800MB (got 'client1')"),
    (["-g", "g=lots"], "-g: expected a size such as 800MB (got 'lots')"),
    (["-x"], "memmon: option -x not recognized"),
    (["extra"], "memmon: unexpected argument 'extra'"),
])
def test_memmon_usage_errors_are_one_line(argv, message):
    with pytest.raises(UsageError) as error:
        parse_memmon(argv)
    assert str(error.value) == message


def test_httpok_flags_and_group_specs():
    watch = parse_httpok(["-p", "zeo-clients", "-t", "3", "-c", "200", "-c", "204", "-b", "ok", "-m", "a@b.c",
                          "-E", "-n", "web", "http://127.0.0.1:8081/health"])
    assert watch == HealthWatch("http://127.0.0.1:8081/health", ("zeo-clients",), False, 3, (200, 204), "ok",
                                "a@b.c", eager=False, name="web")
    processes = [proc("zeo-clients", "client1", 1), proc("zeo-clients", "client2", 2), proc("front", "haproxy", 3)]
    assert [p.name for p in watch.targets(processes)] == ["client1", "client2"]
    one = parse_httpok(["-p", "zeo-clients:client2", "http://x/"])
    assert [p.name for p in one.targets(processes)] == ["client2"]


def test_httpok_body_check_works_on_python_3():
    watch = parse_httpok(["-p", "c", "-b", "ok client1", "http://x/"])
    assert watch.judge(200, "ok client1\n") is None
    assert watch.judge(200, "unavailable") == "body lacks 'ok client1'"
    assert watch.judge(503, "") == "status 503, expected 200"
    assert watch.judge(0, "") == "no answer within 10s"


def test_n_failures_in_a_row_and_grace():
    verdicts = Verdicts(2)
    assert not verdicts.record("u", True)
    assert not verdicts.record("u", False)
    assert not verdicts.record("u", True)
    assert verdicts.record("u", True)
    assert in_grace([proc("g", "a", 1, start=100, now=105)], 10)
    assert not in_grace([proc("g", "a", 1, start=100, now=111)], 10)


def test_one_watchdog_command_line_holds_policy_memmon_and_httpoks():
    settings = parse_command_line(["--site", "/s/site.json", "--failures", "3", "--warmup", "/", "--max-out", "2",
                                   "::", "memmon", "-g", "zeo-clients=800MB",
                                   "::", "httpok", "-p", "client1", "-t", "3", "http://127.0.0.1:8081/health"])
    assert (settings.site, settings.failures, settings.policy.warmup, settings.policy.max_out) == \
        ("/s/site.json", 3, ("/",), 2)
    assert settings.memory[0].groups == (("zeo-clients", 800 * MB),)
    assert settings.health[0].programs == ("client1",)
    # bin/sitestack-memmon and bin/sitestack-httpok take superlance's command line as it is
    assert parse_command_line(["--site", "s", "-g", "g=1MB"], "memmon").memory[0].groups == (("g", MB),)
    assert parse_command_line(["--site", "s", "-p", "c", "http://x/"], "httpok").health[0].url == "http://x/"
    with pytest.raises(UsageError, match="--failures: expected a number of at least 1 \\(got '0'\\)"):
        parse_command_line(["--site", "s", "--failures", "0"])


@pytest.mark.parametrize(("start", "now", "answered", "grace", "expected"), [
    (100, 105, None, 10, True),     # young, never answered: not judged yet
    (100, 105, 100, 10, False),     # answered since this start: judged
    (100, 105, 50, 10, True),       # answered before a restart only: this start has not
    (100, 399, None, 300, True),    # a Plone-sized grace
    (100, 401, None, 300, False),   # grace over: judged even without an answer
    (0, 5, None, 10, False),        # no start time known: judged
])
def test_a_process_is_judged_once_it_answered_since_its_start_or_after_its_grace(start, now, answered, grace, expected):
    from sitestack.listeners.rules import still_starting
    assert still_starting(proc("g", "a", 1, start=start, now=now), answered, grace) is expected


@pytest.mark.parametrize(("status", "expected"), [
    ("DRAIN", True), ("MAINT", True), ("MAINT (via clients/x)", True), ("NOLB", True),
    ("UP", False), ("DOWN", False), ("no check", False),
])
def test_drained_or_maintenance_servers_are_left_alone(status, expected):
    from sitestack.listeners.rules import out_of_rotation
    assert out_of_rotation(status) is expected

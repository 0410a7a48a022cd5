"""The supervisor part's adapter: options in, model out, one clear message per problem."""
import pytest

from buildout_harness import error_of
from published_stack import published, stack_buildout, watchdog_of
from sitestack.recipes.address import Address
from sitestack.recipes.publish import PublishedProgram
from sitestack.recipes.supervisor import Recipe


def recipe(buildout):
    return Recipe(buildout, "supervisor", buildout["supervisor"])


def test_parts_give_groups_priorities_and_default_listeners(tmp_path):
    part = recipe(stack_buildout(tmp_path, programs="zeoserver clients front"))
    config = part.config
    assert [(g.name, g.priority, g.programs) for g in config.groups] == [
        ("zeo-cluster", 10, ("zeoserver",)),
        ("zeo-clients", 20, ("client1", "client2")),
        ("front", 30, ("haproxy", "varnish")),
    ]
    assert [(p.name, p.priority) for p in config.programs] == [
        ("zeoserver", 10), ("client1", 20), ("client2", 20), ("haproxy", 30), ("varnish", 40)]
    assert {e.name: (e.events, e.command) for e in config.listeners} == {
        "watchdog": ("TICK_5", f"{tmp_path}/bin/sitestack-watchdog")}
    # its rules are in site.json
    assert watchdog_of(part) == (f"{tmp_path}/bin/sitestack-watchdog",
                                 "--grace 10 :: memmon -g zeo-clients=800MB"
                                 " :: httpok -p client1 -t 2 http://127.0.0.1:8081/health"
                                 " :: httpok -p client2 -t 2 http://127.0.0.1:8082/health")


def test_watchdog_options_reach_the_rules_in_site_json(tmp_path):
    part = recipe(stack_buildout(tmp_path, programs="zeoserver clients", **{
        "memmon-email": "ops@example.com", "httpok-timeout": "5", "watchdog-grace": "60"}))
    assert watchdog_of(part)[1] == (
        "--grace 60 :: memmon -g zeo-clients=800MB -m ops@example.com"
        " :: httpok -p client1 -t 5 -m ops@example.com http://127.0.0.1:8081/health"
        " :: httpok -p client2 -t 5 -m ops@example.com http://127.0.0.1:8082/health")


def test_own_eventlisteners_lines_replace_the_default_watchdog_and_its_site_json_rules(tmp_path):
    line = f"watchdog TICK_5 {tmp_path}/bin/sitestack-watchdog [--warmup / :: memmon -g zeo-clients=1GB]"
    part = recipe(stack_buildout(tmp_path, programs="zeoserver clients", eventlisteners=line))
    assert [e.command for e in part.config.listeners] == [
        f"{tmp_path}/bin/sitestack-watchdog --warmup / :: memmon -g zeo-clients=1GB"]
    assert part.watchdog_rules is None


def test_unix_socket_by_default(tmp_path):
    control = recipe(stack_buildout(tmp_path, programs="zeoserver")).config.control
    assert (control.kind, control.file, control.chmod) == ("unix", f"{tmp_path}/var/supervisor.sock", "0700")
    assert control.serverurl == f"unix://{tmp_path}/var/supervisor.sock"


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(programs="zeoserver", prot="9001"),
         "[supervisor] prot: unknown option; did you mean 'port'? (got '9001')"),
        (dict(programs="zeoserver", port="0.0.0.0:9001"),
         "[supervisor] port: a control port on a non-loopback address needs a password "
         "(set password, or bind 127.0.0.1) (got '0.0.0.0:9001')"),
        (dict(programs="zeoserver", port="*:9001"),
         "[supervisor] port: a control port on a non-loopback address needs a password "
         "(set password, or bind 127.0.0.1) (got '*:9001')"),
        (dict(programs="zeoserver", port="127.0.0.1:99999"),
         "[supervisor] port: expected a TCP port from 1 to 65535 (got '127.0.0.1:99999')"),
        (dict(programs="zeoserver nosuchpart"),
         "[supervisor] programs: line 1: 'nosuchpart' is neither a part nor a 'priority name command' line "
         "(got 'zeoserver nosuchpart')"),
        (dict(programs="zeoserver clients", groups="20 zeo-clients client1,client9"),
         "[supervisor] groups: group 'zeo-clients' names an unknown program 'client9' (got 'client9')"),
        (dict(programs="zeoserver\n10 zeoserver /srv/bin/other"),
         "[supervisor] programs: 'zeoserver' is defined twice (got 'zeoserver')"),
        (dict(programs="10 worker (numprocs=4) /srv/bin/worker"),
         "[supervisor] programs: 'worker': numprocs > 1 needs %(process_num)s in process_name (got 'worker')"),
        (dict(programs="10 app /srv/bin/app", eventlisteners="Mem TICK_60 /srv/bin/memmon", groups="5 g app,Mem"),
         "[supervisor] groups: group 'g': 'Mem' is an event listener; supervisor does not allow listeners "
         "in groups (got 'Mem')"),
        (dict(programs="zeoserver", loglevel="loud"),
         "[supervisor] loglevel: expected one of critical, error, warn, info, debug, trace, blather (got 'loud')"),
        (dict(programs="zeoserver", **{"logfile-maxbytes": "50 M"}),
         "[supervisor] logfile-maxbytes: expected a size such as 800MB, 1GB or 512KB (got '50 M')"),
        (dict(programs="zeoserver", **{"memmon-email": "admin"}),
         "[supervisor] memmon-email: expected an e-mail address such as ops@example.com (got 'admin')"),
    ],
)
def test_bad_options(tmp_path, options, message):
    assert error_of(lambda: recipe(stack_buildout(tmp_path, **options))) == message


def test_every_problem_reported_at_once(tmp_path):
    buildout = stack_buildout(tmp_path, programs="zeoserver", loglevel="loud", nodaemon="perhaps")
    message = error_of(lambda: recipe(buildout))
    assert message.splitlines() == [
        "[supervisor] loglevel: expected one of critical, error, warn, info, debug, trace, blather (got 'loud')",
        "[supervisor] nodaemon: expected true or false (got 'perhaps')",
    ]


def test_percent_in_commands_is_escaped_for_supervisor(tmp_path):
    from sitestack.recipes.supervisor import render_supervisord_conf

    config = recipe(stack_buildout(tmp_path, programs="10 app /srv/bin/app [--rate 100% --name %(program_name)s]")).config
    text = render_supervisord_conf("supervisor", "/srv", config)
    assert "command = /srv/bin/app --rate 100%% --name %(program_name)s\n" in text


def test_two_programs_on_one_port(tmp_path):
    buildout = stack_buildout(tmp_path, programs="zeoserver clients other")
    published(buildout, "other", [
        PublishedProgram("other", "/srv/bin/other", "/srv", 50, "", address=Address("127.0.0.1", 8082))])
    assert error_of(lambda: recipe(buildout)) == (
        "[supervisor] programs: 'other' and 'client2' both listen on 127.0.0.1:8082 (got '127.0.0.1:8082')")


def test_priority_lines_with_an_address_and_health_url_are_watched_and_port_checked(tmp_path):
    lines = ("10 zeoserver /srv/bin/zeoserver [fg]\n"
             "20 client1 (address=127.0.0.1:8091 health-url=/ok memory-quota=900MB start-timeout=240"
             " stopasgroup=true) /srv/bin/client1 [console] true")
    part = recipe(stack_buildout(tmp_path, programs=lines))
    config = part.config
    client = next(p for p in config.programs if p.name == "client1")
    assert (client.address, client.health_url, client.memory_quota, client.start_timeout, client.watchdog) == (
        Address("127.0.0.1", 8091), "http://127.0.0.1:8091/ok", 900 * 1024**2, 240, True)
    assert watchdog_of(part) == (f"{tmp_path}/bin/sitestack-watchdog",
                                 "--grace 10 :: memmon -p client1=900MB :: httpok -p client1 -t 2 http://127.0.0.1:8091/ok")
    clash = lines + "\n30 other (address=127.0.0.1:8091) /srv/bin/other"
    assert error_of(lambda: recipe(stack_buildout(tmp_path, programs=clash))) == (
        "[supervisor] programs: 'other' and 'client1' both listen on 127.0.0.1:8091 "
        "(got '30 other (address=127.0.0.1:8091) /srv/bin/other')")


@pytest.mark.parametrize(("line", "message"), [
    ("20 c1 (health-url=/ok) /srv/bin/c1",
     "[supervisor] programs: line 1: health-url '/ok' is a path: give address=host:port too, or a whole "
     "http:// URL (got '20 c1 (health-url=/ok) /srv/bin/c1')"),
    ("20 c1 (health-url=ftp://x/ok) /srv/bin/c1",
     "[supervisor] programs: line 1: health-url: expected /path or http://host:port/path (got 'ftp://x/ok') "
     "(got '20 c1 (health-url=ftp://x/ok) /srv/bin/c1')"),
    ("20 c1 (start-timeout=soon) /srv/bin/c1",
     "[supervisor] programs: line 1: start-timeout: expected whole seconds from 1 to 86400 (got 'soon') "
     "(got '20 c1 (start-timeout=soon) /srv/bin/c1')"),
    ("20 c1 (stdout_logfile=/srv/var/log/zope.log) /srv/bin/c1\n"
     "21 c2 (stdout_logfile=/srv/var/log/zope.log) /srv/bin/c2",
     "[supervisor] programs: c2 (stdout_logfile) and c1 (stdout_logfile) write the same log file "
     "(got '/srv/var/log/zope.log')"),
])
def test_bad_client_keys_in_priority_lines(tmp_path, line, message):
    assert error_of(lambda: recipe(stack_buildout(tmp_path, programs=line))) == message


def test_a_balanced_program_without_a_health_url_gets_a_warning(tmp_path, caplog):
    buildout = stack_buildout(tmp_path, programs="10 zeoserver /srv/bin/zeoserver\n"
                              "20 client1 (address=127.0.0.1:8081) /srv/bin/client1 [console]\n"
                              "21 client2 (address=127.0.0.1:8082 health-url=/ok) /srv/bin/client2 [console]")
    buildout["haproxy"] = {"stats-socket": "/srv/var/haproxy/admin.sock", "backend": "clients",
                           "servers": "client1=127.0.0.1:8081 client2=127.0.0.1:8082"}
    buildout["supervisor"]["balancer"] = "haproxy"
    with caplog.at_level("WARNING"):
        recipe(buildout)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["client1: haproxy balances to it but it has no health URL; restarts wait for haproxy's "
                        "own check and the watchdog does not watch it (give it health-url=... in its (...))"]

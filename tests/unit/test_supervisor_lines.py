"""collective.recipe.supervisor's line syntax: parsed strictly, every bad token named."""
import pytest

from sitestack.recipes.errors import Invalid
from sitestack.recipes.supervisor_lines import parse_group, parse_listener, parse_program
from sitestack.recipes.supervisor_model import EventListener, Group, Program


@pytest.mark.parametrize(
    "line, expected",
    [
        ("10 zeoserver /srv/bin/zeoserver [foreground] /srv/parts/zeoserver true",
         Program("zeoserver", "/srv/bin/zeoserver foreground", 10, "/srv/parts/zeoserver", True)),
        ("20 client1 /srv/bin/client1 [console] /srv/parts/client1 true",
         Program("client1", "/srv/bin/client1 console", 20, "/srv/parts/client1", True)),
        ("30 haproxy /srv/bin/haproxy [-f /srv/etc/haproxy.cfg -db] true",
         Program("haproxy", "/srv/bin/haproxy -f /srv/etc/haproxy.cfg -db", 30, "/srv/bin", True)),
        ("40 varnish /usr/sbin/varnishd",
         Program("varnish", "/usr/sbin/varnishd", 40, "/usr/sbin", False)),
        ("40 worker /srv/bin/worker /srv/work false nobody",
         Program("worker", "/srv/bin/worker", 40, "/srv/work", False, "nobody")),
        ("40 worker /srv/bin/worker /srv/work nobody",
         Program("worker", "/srv/bin/worker", 40, "/srv/work", False, "nobody")),
        ("50 app (autostart=false startsecs=10) /srv/bin/app",
         Program("app", "/srv/bin/app", 50, "/srv/bin", False, "",
                 (("autostart", "false"), ("startsecs", "10")))),
        ("50 app (stopsignal=int redirect_stderr=yes) /srv/bin/app [ -v ]",
         Program("app", "/srv/bin/app -v", 50, "/srv/bin", True, "", (("stopsignal", "INT"),))),
    ],
)
def test_program_lines(line, expected):
    assert parse_program(line) == expected


@pytest.mark.parametrize(
    "line, message",
    [
        ("zeoserver /srv/bin/zeoserver", "expected a priority from 0 to 999"),
        ("1000 zeo /srv/bin/zeo", "expected a priority from 0 to 999"),
        ("10", "expected a program name (got 'end of line')"),
        ("10 zeo", "expected a command (got 'end of line')"),
        ("10 zeo/x /srv/bin/zeo", "expected a name of letters, digits, '_', '.' and '-'"),
        ("10 zeo /srv/bin/zeo [fg] /srv true nobody extra",
         "unexpected 'extra' after the user"),
        ("10 zeo /srv/bin/zeo [fg] /srv true false", "unexpected 'false' after the true|false (redirect_stderr)"),
        ("10 zeo /srv/bin/zeo [fg", "cannot read '[fg': brackets and parentheses must be balanced and not nested"),
        ("10 zeo (autostart) /srv/bin/zeo", "expected key=value inside (...) (got 'autostart')"),
        ("10 zeo (autostrat=false) /srv/bin/zeo", "'autostrat' is not a supervisor option for this section"),
        ("10 zeo (startsecs=soon) /srv/bin/zeo", "startsecs: expected a whole number (got 'soon')"),
        ("10 zeo (priority=5) /srv/bin/zeo", "give the priority as the first word, not inside (...)"),
        ("10 zeo /srv/bin/zeo [a ; b]", "a ';' or '#' after a space starts a comment in supervisor's config"),
        ("10 zeo /srv/bin/zeo [fg] [more]", "unexpected 'more' after the command and its [args]"),
    ],
)
def test_bad_program_lines(line, message):
    with pytest.raises(Invalid) as error:
        parse_program(line)
    assert str(error.value) == message


def test_listener_lines():
    assert parse_listener("MemoryMonitor TICK_60 /srv/bin/memmon [-g zeo-clients=800MB -m admin@example.com]") == \
        EventListener("MemoryMonitor", "TICK_60", "/srv/bin/memmon -g zeo-clients=800MB -m admin@example.com")
    assert parse_listener("Crash (buffer_size=50) PROCESS_STATE_EXITED,PROCESS_STATE_FATAL /srv/bin/crashmail") == \
        EventListener("Crash", "PROCESS_STATE_EXITED,PROCESS_STATE_FATAL", "/srv/bin/crashmail", (("buffer_size", "50"),))


@pytest.mark.parametrize(
    "line, message",
    [
        ("HttpOk1 /srv/bin/httpok", "expected event names such as TICK_60,PROCESS_STATE"),
        ("HttpOk1 TICK_60", "expected a command (got 'end of line')"),
        ("HttpOk1 TICK_60 /srv/bin/httpok [-p client1] trailing", "unexpected 'trailing' after the command and its [args]"),
        ("HttpOk1 (redirect_stderr=true) TICK_60 /srv/bin/httpok",
         "'redirect_stderr' is not a supervisor option for this section"),
    ],
)
def test_bad_listener_lines(line, message):
    with pytest.raises(Invalid) as error:
        parse_listener(line)
    assert str(error.value) == message


def test_group_lines():
    assert parse_group("20 zeo-clients client1,client2") == Group("zeo-clients", 20, ("client1", "client2"))


@pytest.mark.parametrize(
    "line, message",
    [
        ("zeo-clients client1", "expected a priority from 0 to 999"),
        ("20 zeo-clients", "expected the programs, comma separated (got 'end of line')"),
        ("20 zeo-clients client1, client2",
         "unexpected 'client2': programs are separated by commas without spaces"),
        ("20 zeo-clients client1,,client2", "expected a name of letters, digits, '_', '.' and '-'"),
    ],
)
def test_bad_group_lines(line, message):
    with pytest.raises(Invalid) as error:
        parse_group(line)
    assert str(error.value) == message

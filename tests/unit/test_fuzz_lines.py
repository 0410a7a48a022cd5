"""Fuzzing the line parsers: any text gives a model or errors.Invalid, never another exception."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitestack.recipes import convert
from sitestack.recipes.crontab_model import cron_command, cron_times, environment
from sitestack.recipes.errors import Invalid
from sitestack.recipes.supervisor_lines import parse_group, parse_listener, parse_program, tokens
from sitestack.recipes.supervisor_model import EventListener, Group, Program

# the characters the syntax cares about, often, and any others sometimes
SYNTAX = "0123456789 ()[]=,%:;#/\\'\"\t-_.abcxyzTRUEfalse"
TEXT = st.one_of(st.text(alphabet=SYNTAX, max_size=80), st.text(max_size=80))
WORDS = st.sampled_from(["10", "999", "1000", "-1", "client1", "(numprocs=2)", "(process_name=%(program_name)s_%(process_num)02d)",
                         "(startsecs=x)", "(user=root)", "/bin/cat", "[-x y]", "[", "]", "(", ")", "true", "false",
                         "TICK_60", "PROCESS_STATE,TICK_5", "a,b", "nobody", "/tmp", "%", ";", "#", "ü", "x=y"])
LINES = st.one_of(TEXT, st.lists(WORDS, max_size=9).map(" ".join))
PARSERS = [(parse_program, Program), (parse_listener, EventListener), (parse_group, Group)]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("parse", "model"), PARSERS, ids=["programs", "eventlisteners", "groups"])
@FAST
@given(line=LINES)
def test_a_line_gives_a_model_or_invalid(parse, model, line: str) -> None:
    try:
        result = parse(line)
    except Invalid as error:
        assert str(error)
        return
    assert isinstance(result, model)


@FAST
@given(line=LINES)
def test_tokens_split_or_refuse(line: str) -> None:
    try:
        found = tokens(line)
    except Invalid:
        return
    assert all(kind in ("word", "opts", "args") for kind, _ in found)


@pytest.mark.parametrize("convert_", [cron_times, cron_command, environment, convert.byte_size, convert.address,
                                      convert.port, convert.host, convert.duration, convert.url_path, convert.name],
                         ids=lambda f: f.__name__)
@FAST
@given(text=LINES)
def test_converters_give_a_value_or_invalid(convert_, text: str) -> None:
    try:
        convert_(text)
    except Invalid as error:
        assert str(error)

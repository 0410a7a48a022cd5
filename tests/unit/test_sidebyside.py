"""The side-by-side benchmark's parsing of wrk's report and its place in BENCHMARKS.md."""
from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from support import ROOT

from benchmarks.sidebyside import parse_wrk  # noqa: E402
from benchmarks.stacks import sitestack_config  # noqa: E402
from benchmarks.table import BEGIN, END, render_markdown, replace_between_markers  # noqa: E402

# wrk 4.1.0 (Debian 12), as it printed them
REPORT = """Running 1s test @ http://127.0.0.1:39111/x
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.34ms    3.34ms  32.08ms   90.86%
    Req/Sec     1.26k   505.34     2.39k    60.00%
  Latency Distribution
     50%    1.14ms
     75%    2.29ms
     90%    5.32ms
     99%   17.73ms
  2515 requests in 1.00s, 277.64KB read
Requests/sec:   2509.52
Transfer/sec:    277.04KB
"""
FAILING = """Running 2s test @ http://127.0.0.1:1/
  Latency Distribution
     50%  812.00us
     75%    1.02ms
     90%    1.50s
     99%    1.20m
  40 requests in 2.00s, 8.11KB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:     19.95
"""


def test_a_report_is_read_in_milliseconds():
    assert parse_wrk(REPORT) == {"p50_ms": 1.14, "p90_ms": 5.32, "p99_ms": 17.73, "requests": 2515.0,
                                 "rps": 2509.52, "non_2xx": 0.0, "socket_errors": 0.0}


def test_failures_and_every_unit_are_counted():
    result = parse_wrk(FAILING)
    assert result["p50_ms"] == pytest.approx(0.812)
    assert (result["p90_ms"], result["p99_ms"]) == (1500.0, 72_000.0)
    assert (result["requests"], result["non_2xx"], result["socket_errors"]) == (40.0, 7.0, 5.0)


def test_the_table_replaces_only_the_text_between_the_markers():
    medians = {"rps": 1.0}
    runs = {"classic": {"uncached_rps": [900.0, 1000.0, 1100.0], "direct_rps": [1000.0, 1000.0, 1000.0]},
            "sitestack": {"uncached_rps": [1200.0], "direct_rps": [1000.0]}}
    meta = {"date": "d", "commit": "c", "rounds": 3, "connections": 16, "duration": 10, "nproc": 2,
            "load_averages": ["1.0 1.0 1.0"]}
    table = render_markdown(meta, {"classic": medians, "sitestack": medians}, runs)
    assert "| through varnish ÷ direct (median of rounds, range) | 1.00 (0.90–1.10) | 1.20 (1.20–1.20) |" in table
    text = f"# B\nbefore\n{BEGIN}\nold table\n{END}\nafter\n"
    assert replace_between_markers(text, table) == f"# B\nbefore\n{BEGIN}\n{table}\n{END}\nafter\n"
    with pytest.raises(SystemExit):
        replace_between_markers("# no markers\n", table)


def test_no_part_of_the_benchmark_site_writes_the_real_crontab(tmp_path: Path):
    """Every base.cfg part with a crontab recipe reads and writes tmp/crontab.txt, never `crontab`."""
    base = configparser.RawConfigParser(interpolation=None, strict=False)
    base.read(ROOT / "base.cfg")
    cron_recipes = {"sitestack:crontab", "sitestack:backup"}
    cron_parts = [name for name in base.sections() if base[name].get("recipe") in cron_recipes]
    assert {"crontab", "backup"} <= set(cron_parts)
    site = configparser.RawConfigParser(interpolation=None)
    site.read_string(sitestack_config(tmp_path, tmp_path / "eggs", {"varnish": 1, "clients": 2}))
    for part in cron_parts:
        assert site[part]["read-command"] == f"cat {tmp_path}/crontab.txt"
        assert site[part]["write-command"] == f"sh -c 'cat > {tmp_path}/crontab.txt'"


def test_the_realistic_page_is_a_second_line_for_sitestack_only():
    runs = {"classic": {"uncached_rps": [900.0], "direct_rps": [1000.0], "uncached_load1": [3.0]},
            "sitestack": {"uncached_rps": [800.0], "direct_rps": [1000.0], "uncached_load1": [1.0, 5.0],
                          "page_uncached_rps": [540.0, 600.0, 660.0], "page_direct_rps": [300.0, 300.0, 300.0]}}
    medians = {kind: {k: sorted(v)[len(v) // 2] for k, v in values.items()} for kind, values in runs.items()}
    meta = {"date": "d", "commit": "c", "rounds": 3, "connections": 16, "duration": 10, "nproc": 2,
            "load_averages": ["1.0 1.0 1.0"], "page_notes": 2000}
    table = render_markdown(meta, medians, runs)
    assert "Load average (1 min) at the end of each wrk run: median 3.00, 1.00–5.00." in table
    assert "| … through varnish ÷ direct (median of rounds, range) | – | 2.00 (1.80–2.20) |  |" in table
    assert "| … req/s through varnish / one client direct | – | 600 / 300 |  |" in table
    assert "home page `/` over 2000 notes (realistic cost; sitestack only, not the target)" in table
    del runs["sitestack"]["page_direct_rps"]
    assert "home page" not in render_markdown(meta, medians, runs)

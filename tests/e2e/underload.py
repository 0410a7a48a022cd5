"""Faults under the mixed load live in benchmarks/underload.py, which the benchmarks use too."""
from benchmarks.underload import (  # noqa: F401 - the e2e tests import them from here
    AFTER,
    BEFORE,
    CONNECTIONS,
    IN_WINDOW,
    Result,
    assert_nothing_lost,
    failed_lines,
    running_pid,
    signal_pid,
    under_load,
)

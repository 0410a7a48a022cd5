"""bin/sitestack reload's decisions: which processes it restarts or starts."""
import pytest

from sitestack.control.reload import needs_restart

HISTORY = {"client1": [[100.0, "old"], [200.0, "new"]]}


@pytest.mark.parametrize(("state", "start", "expected"), [
    ("FATAL", 150.0, True),      # could not start from the old files; they changed since: start it
    ("STOPPED", 150.0, True),
    ("EXITED", 150.0, True),
    ("FATAL", 250.0, False),     # failed from the new files already: starting again would fail again
    ("STOPPED", 0, False),       # never started: nothing to compare
    ("BACKOFF", 150.0, False),   # supervisor is starting it
    ("STARTING", 150.0, False),
])
def test_stopped_or_fatal_programs_whose_files_changed_are_started(state, start, expected):
    info = {"name": "client1", "statename": state, "start": start, "pid": 0}
    assert needs_restart(HISTORY, info) is expected

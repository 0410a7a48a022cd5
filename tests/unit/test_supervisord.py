"""bin/supervisord's quick first pass, and the parts of supervisor it relies on (control/supervisord.py).

Fails when supervisor changes what the script mirrors or counts on: its `main`/`go` loop, and a
main loop whose first pass (the one that starts the programs) comes after one poll of the
options' poller with a timeout of one second.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

from supervisor import supervisord

from support import ROOT

# sha256 of supervisor 4.3.0's supervisord.main and supervisord.go: sitestack.control.supervisord.main is the
# same loop. A new supervisor that changes them: compare the two, then update these digests.
MIRRORED = {
    "main": "8c043dc771e9c0622c4eaf0356b1beb0fba64622baaaba54c6de74f316e9e67d",
    "go": "4ff805aa1ba82a121fef7198884499cea2ec528c5da23b4e3c6cbda05346c625",
}

# Runs supervisord (supervisor's own Supervisor, on options as sitestack.control.supervisord.main makes them)
# with one program, between pollers that record each poll: what supervisor's loop asked for (and
# the program's state then) outside FirstPollAtOnce, what reached the real poller inside it. At the
# second poll it asks supervisord to shut down (it stops the program and leaves its loop).
SCENARIO = r"""
import json, sys
from supervisor import supervisord
from supervisor.options import ServerOptions
from supervisor.states import SupervisorStates
from sitestack.control.supervisord import FirstPollAtOnce

seen = []

class Recording:
    def __init__(self, poller, key):
        self.poller, self.key = poller, key
    def poll(self, timeout):
        if self.key == "asked":
            group = supervisor.process_groups.get("sleeper")
            seen.append({"state": group.processes["sleeper"].get_state() if group else None})
            if len(seen) == 2:
                options.mood = SupervisorStates.SHUTDOWN
        seen[-1][self.key] = timeout
        return self.poller.poll(timeout)
    def __getattr__(self, name):
        return getattr(self.poller, name)

options = ServerOptions()
options.poller = Recording(FirstPollAtOnce(Recording(options.poller, "waited")), "asked")
options.realize(["-c", sys.argv[1], "-n"], doc=supervisord.__doc__)
options.first, options.test = True, False
supervisor = supervisord.Supervisor(options)
try:
    supervisor.main()
except supervisord.asyncore.ExitNow:
    pass
print(json.dumps(seen))
"""


def test_the_supervisord_loop_the_script_mirrors_is_unchanged() -> None:
    for name, digest in MIRRORED.items():
        source = inspect.getsource(getattr(supervisord, name))
        assert hashlib.sha256(source.encode()).hexdigest() == digest, (
            f"supervisor's supervisord.{name} changed: compare control/supervisord.py's main with it\n{source}")


def test_the_first_pass_starts_the_programs_after_a_poll_that_did_not_wait(tmp_path: Path) -> None:
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"[supervisord]\nlogfile = {tmp_path}/supervisord.log\npidfile = {tmp_path}/supervisord.pid\n"
                    f"childlogdir = {tmp_path}\n\n[program:sleeper]\ncommand = /bin/sleep 30\nstartsecs = 0\n"
                    "stopwaitsecs = 5\n")
    result = subprocess.run([sys.executable, "-c", SCENARIO, str(conf)], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    from supervisor.states import ProcessStates

    # supervisor's loop asks for a one-second poll before its first pass; the script's poller does not wait ...
    assert seen[0] == {"asked": 1, "waited": 0, "state": ProcessStates.STOPPED}
    # ... and that first pass starts the program; later polls wait as supervisor asks
    assert seen[1]["state"] in (ProcessStates.STARTING, ProcessStates.RUNNING)
    assert seen[1]["asked"] == seen[1]["waited"] == 1

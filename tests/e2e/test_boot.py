"""Boot: the @reboot line installed in the crontab starts the whole stack when run the way cron runs it."""
from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sitestack.control.processes import cmdline, pids
from e2e.site import Stack
from support import pid_alive, poll_for

pytestmark = pytest.mark.e2e
CRON_PATH = "/usr/bin:/bin"  # what cron gives a job


def reboot_command(crontab: Path) -> str:
    """The command of the one @reboot line in the crontab file the site's crontab part wrote."""
    lines = [line for line in crontab.read_text().splitlines() if line.startswith("@reboot")]
    assert len(lines) == 1, crontab.read_text()
    return lines[0].removeprefix("@reboot").strip()


def run_like_cron(command: str) -> int:
    """As cron does: a bare environment (env -i, cron's PATH, SHELL, HOME, LOGNAME), /bin/sh -c, no
    terminal (stdin /dev/null, a new session), output nowhere a terminal could see it."""
    user = pwd.getpwuid(os.geteuid())
    result = subprocess.run(
        ["env", "-i", f"PATH={CRON_PATH}", "SHELL=/bin/sh", f"HOME={user.pw_dir}", f"LOGNAME={user.pw_name}",
         "/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=user.pw_dir if os.path.isdir(user.pw_dir) else "/", start_new_session=True, timeout=60,
        executable="/usr/bin/env",
    )
    return result.returncode


def supervisords(site: Path) -> list[int]:
    """supervisord processes of this site (its bin/supervisord script runs under Python)."""
    script = str(site / "bin" / "supervisord")
    return [pid for pid in pids() if script in cmdline(pid) and pid_alive(pid)]


def kill_hard(stack: Stack) -> None:
    """An unclean shutdown: SIGKILL to supervisord and everything below it, nothing cleaned up."""
    victims = [stack.pid, *stack.descendants()]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    poll_for(lambda: not any(pid_alive(p) for p in victims), 30, "every process of the stack gone")


def test_reboot_line_starts_the_stack_also_after_a_crash_and_only_once(site):
    command = reboot_command(site.crontab)
    assert str(site.path / "bin" / "supervisord") in command
    stack = Stack(site.path)
    try:
        run_like_cron(command)
        stack.pid = poll_for(stack._read_pid, 30, "supervisord's pidfile after the @reboot line", stack.explain)
        poll_for(stack.all_running, 90, "every program RUNNING after the @reboot line", stack.explain)
        first = stack.pid

        # the line again while the stack runs: no second supervisord, nothing restarted
        pids = {i["name"]: i["pid"] for i in stack.info()}
        run_like_cron(command)
        time.sleep(2)
        assert supervisords(site.path) == [first]
        assert stack._read_pid() == first
        assert {i["name"]: i["pid"] for i in stack.info()} == pids

        # kill -9 everything: a stale pidfile and a stale control socket stay behind
        kill_hard(stack)
        socket_path = Path(stack.serverurl.removeprefix("unix://"))
        assert stack.pidfile.exists() and socket_path.exists()
        run_like_cron(command)
        stack.pid = poll_for(stack._read_pid, 30, "a new supervisord after the crash", stack.explain)
        assert stack.pid != first
        poll_for(stack.all_running, 90, "every program RUNNING after the crash", stack.explain)
        assert supervisords(site.path) == [stack.pid]
    finally:
        stack.stop()

"""Rules for the whole suite: the machine's crontab untouched, an exception in a helper thread fails its
test, and in CI as root no test may be skipped (a skipped root-only test would be coverage not had)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the project root too: the load generator (benchmarks/load.py) is shared by tests and benchmarks
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))


import getpass  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402

SPOOL = Path("/var/spool/cron/crontabs")


def pytest_configure(config: pytest.Config) -> None:
    # a load generator or server thread that dies of an exception fails the test it ran in
    config.addinivalue_line("filterwarnings", "error::pytest.PytestUnhandledThreadExceptionWarning")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The Zope build (if one was started) is stopped; CI (CI=true, as .ci/run sets) as root runs every
    test: any skip fails the run."""
    build = session.config.stash.get(ZOPE_BUILD, None)
    if build is not None:
        build.close()
    if os.environ.get("CI") != "true" or os.geteuid() != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = [report for key in ("skipped", "xfailed") for report in (reporter.stats.get(key, []) if reporter else [])]
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        for report in skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            print(f"\nskipped in CI as root (every test must run): {report.nodeid}: {reason}", file=sys.stderr)


def _real_crontab() -> tuple[bytes, int] | None:
    """The user's crontab as cron keeps it (content and mtime), or None when there is none."""
    path = SPOOL / getpass.getuser()
    try:
        return path.read_bytes(), path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    except PermissionError:  # not root: nothing we can compare
        return None


@pytest.fixture(scope="session", autouse=True)
def machine_crontab_untouched():
    """Every test leaves the machine's real crontab exactly as it found it."""
    before = _real_crontab()
    yield
    assert _real_crontab() == before, "a test changed the machine's real crontab"


def pytest_collection_finish(session):
    """Start the Zope site's build in the background when tests/e2e/test_zope.py is selected (minutes)."""
    if any(item.nodeid.startswith("tests/e2e/test_zope.py") or "/e2e/test_zope.py" in str(item.fspath)
           for item in session.items):
        from e2e.zope_build import ZopeBuild

        session.config.stash[ZOPE_BUILD] = ZopeBuild().start()


ZOPE_BUILD = pytest.StashKey()

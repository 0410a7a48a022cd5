import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import getpass  # noqa: E402

import pytest  # noqa: E402

SPOOL = Path("/var/spool/cron/crontabs")


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


def pytest_sessionfinish(session):
    build = session.config.stash.get(ZOPE_BUILD, None)
    if build is not None:
        build.close()


ZOPE_BUILD = pytest.StashKey()

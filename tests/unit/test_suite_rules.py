"""The suite cannot pass by accident: each rule of tests/conftest.py and tests/support.py, tried on a
small suite of its own in a temporary directory (run by a real pytest)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent


def run_suite(tmp_path: Path, test: str, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on one test file next to copies of the real conftest.py and support.py."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(TESTS / "support.py", tmp_path / "support.py")
    (tmp_path / "test_it.py").write_text(test)
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "SITESTACK_UPDATE_GOLDEN")} | env
    environ["PYTHONPATH"] = str(TESTS.parent)  # support.py takes its process helpers from benchmarks/loopback.py
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, env=environ, timeout=120)


def test_an_exception_in_a_helper_thread_fails_the_test(tmp_path):
    result = run_suite(tmp_path, "import threading\n\n"
                       "def test_it():\n"
                       "    worker = threading.Thread(target=lambda: 1 / 0)\n"
                       "    worker.start()\n"
                       "    worker.join()\n")
    assert result.returncode == 1 and "ZeroDivisionError" in result.stdout, result.stdout + result.stderr


def test_a_missing_golden_file_fails_and_is_not_created(tmp_path):
    test = ("import support\n\n"
            "def test_it(tmp_path, monkeypatch):\n"
            "    monkeypatch.setattr(support, 'GOLDEN', support.Path(__file__).parent / 'golden')\n"
            "    support.check_golden('nothing-here.txt', 'text')\n")
    (tmp_path / "golden").mkdir()
    for env in ({}, {"CI": "true"}):
        result = run_suite(tmp_path, test, **env)
        assert result.returncode == 1 and "is missing" in result.stdout, result.stdout + result.stderr
        assert list((tmp_path / "golden").iterdir()) == []
    result = run_suite(tmp_path, test, CI="true", SITESTACK_UPDATE_GOLDEN="1")
    assert result.returncode == 1 and list((tmp_path / "golden").iterdir()) == [], result.stdout
    result = run_suite(tmp_path, test, SITESTACK_UPDATE_GOLDEN="1")
    assert result.returncode == 0 and (tmp_path / "golden" / "nothing-here.txt").read_text() == "text"


@pytest.mark.skipif(os.geteuid() != 0, reason="the rule applies to runs as root")
def test_a_skip_fails_a_ci_run_as_root(tmp_path):
    test = "import pytest\n\n@pytest.mark.skip(reason='needs something')\ndef test_it():\n    pass\n"
    assert run_suite(tmp_path, test).returncode == 0
    result = run_suite(tmp_path, test, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_it.py::test_it: Skipped: needs something" in result.stderr, result.stderr

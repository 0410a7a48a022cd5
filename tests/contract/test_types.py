"""`mypy --strict` passes on the package: the folders and bootstrap.py that pyproject.toml's [tool.mypy]
names, checked with that configuration (run here so that the README's test command, and so CI, runs it)."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

# Folders whose mypy --strict errors are counted, not failed on (none: the whole package is strict). A
# folder listed here with no error left fails the test, so the set only shrinks.
PENDING: set[str] = set()

ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+(?::\d+)?: error: ", re.MULTILINE)
SUMMARY = re.compile(r"^(Success: no issues found in \d+ source files?|Found \d+ errors? in \d+ files? \(checked \d+ source files?\))$",
                     re.MULTILINE)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy's cache for this module's runs (the standard library's stubs are read once)."""
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(cache: Path, *arguments: str) -> tuple[int, str]:
    """(exit status, output) of mypy run with the project's configuration from the project root."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
         *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout + result.stderr


def errors_by_folder(output: str) -> Counter[str]:
    """How many errors mypy reported under each top-level folder (or top-level file)."""
    return Counter(Path(match["path"]).parts[0] for match in ERROR.finditer(output))


def test_mypy_strict_passes_on_the_package(cache: Path) -> None:
    status, output = mypy(cache)
    assert SUMMARY.search(output) and status in (0, 1), f"mypy did not finish its check (exit {status}):\n{output}"
    errors = errors_by_folder(output)
    failing = sorted(set(errors) - PENDING)
    assert not failing, f"mypy --strict errors in {', '.join(failing)}:\n" + "\n".join(
        line for line in output.splitlines() if line.split("/", 1)[0].split(":", 1)[0] in failing)
    clean = sorted(PENDING - set(errors))
    assert not clean, f"no mypy error left in {', '.join(clean)}: remove it from PENDING in {__file__}"


def test_an_untyped_function_is_an_error_the_check_sees(cache: Path, tmp_path: Path) -> None:
    """The configuration is strict and the output is read right: a module with an untyped def fails."""
    module = tmp_path / "untyped.py"
    module.write_text("def double(x):\n    return 2 * x\n")
    status, output = mypy(cache, str(module))
    assert status == 1 and SUMMARY.search(output), output
    assert errors_by_folder(output.replace(str(tmp_path) + "/", "")) == {"untyped.py": 1}, output

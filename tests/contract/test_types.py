"""`mypy --strict` passes on the package as it installs (sitestack.*) and on bootstrap.py: tests/typecheck.py
stages that tree from pyproject.toml and runs mypy with its [tool.mypy] (run here so that the README's test
command, and so CI, runs it)."""
from __future__ import annotations

from pathlib import Path

import pytest

from typecheck import ROOT, check

# Folders whose mypy --strict errors are counted, not failed on (none: the whole package is strict). A
# folder listed here with no error left fails the test, so the set only shrinks.
PENDING: set[str] = set()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy's cache for this module's runs (the standard library's stubs are read once)."""
    return tmp_path_factory.mktemp("mypy-cache")


def test_mypy_strict_passes_on_the_package(cache: Path) -> None:
    result = check(ROOT, cache)
    assert result.finished(), f"mypy did not finish its check (exit {result.status}):\n{result.output}"
    errors = result.errors_by_folder()
    failing = sorted(set(errors) - PENDING)
    assert not failing, f"mypy --strict errors in {', '.join(failing)}:\n" + "\n".join(
        line for line in result.output.splitlines() if line.split("/", 1)[0].split(":", 1)[0] in failing)
    clean = sorted(PENDING - set(errors))
    assert not clean, f"no mypy error left in {', '.join(clean)}: remove it from PENDING in {__file__}"


def test_an_untyped_function_is_an_error_the_check_sees(cache: Path, tmp_path: Path) -> None:
    """The configuration is strict, the staged tree is what package-dir maps, and the output is read right:
    a project whose sitestack.demo (folder demo/) has an untyped def fails, reported under demo/."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackages = ["sitestack", "sitestack.demo"]\n\n'
        '[tool.setuptools.package-dir]\n"sitestack" = "sitestack"\n"sitestack.demo" = "demo"\n')
    for folder in ("sitestack", "demo"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text('"""A package."""\n')
    (tmp_path / "demo" / "untyped.py").write_text("def double(x):\n    return 2 * x\n")
    result = check(tmp_path, cache / "demo", config=ROOT / "pyproject.toml", modules=())
    assert result.status == 1 and result.finished(), result.output
    assert result.errors_by_folder() == {"demo": 1}, result.output
    assert result.output.startswith("demo/untyped.py:1: error: Function is missing a type annotation"), result.output

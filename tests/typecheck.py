"""`mypy --strict` on the package as it installs: sitestack.recipes, sitestack.control, ... and bootstrap.py.

The folders install under `sitestack.*` through pyproject.toml's [tool.setuptools] package-dir, a mapping
mypy cannot follow (nor the editable install's import hook). So this builds, under the cache directory,
the tree a wheel holds — `sitestack/<sub>/<module>.py` as symbolic links to the checkout's files, one
folder per listed package — runs mypy there with pyproject.toml's [tool.mypy], and reports every path
as the checkout's own (`control/check.py`, not `sitestack/control/check.py`).

    .venv/bin/python tests/typecheck.py        # exit status and output are mypy's

tests/contract/test_types.py runs it, so the README's test command (and CI) does.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Checked besides the package: top-level modules that are not installed (bootstrap.py runs from a checkout).
MODULES = ("bootstrap.py",)
# A reported path at the start of a line: `sitestack/control/check.py:12: error: ...`
REPORTED = re.compile(r"^(?P<path>[^:\s]+\.py)(?=:)", re.MULTILINE)
ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+(?::\d+)?: error: ", re.MULTILINE)
SUMMARY = re.compile(r"^(Success: no issues found in \d+ source files?|"
                     r"Found \d+ errors? in \d+ files? \(checked \d+ source files?\))$", re.MULTILINE)


@dataclass(frozen=True)
class Result:
    """mypy's exit status and its output, with checkout paths."""

    status: int
    output: str

    def finished(self) -> bool:
        """Whether mypy got to its summary line (exit 0: no error; 1: errors; else it broke down)."""
        return self.status in (0, 1) and SUMMARY.search(self.output) is not None

    def errors_by_folder(self) -> Counter[str]:
        """How many errors under each top-level folder of the checkout (or top-level file)."""
        return Counter(Path(match["path"]).parts[0] for match in ERROR.finditer(self.output))


def package_dirs(root: Path) -> dict[str, Path]:
    """Each installed package's folder in the checkout, from pyproject.toml's [tool.setuptools]."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools.get("package-dir", {})
    return {name: root / mapping.get(name, name.replace(".", "/")) for name in setuptools["packages"]}


def stage(root: Path, into: Path, modules: tuple[str, ...] = MODULES) -> dict[str, str]:
    """Build the installed tree under into; returns each staged file's path -> its checkout path."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    staged: dict[str, str] = {}
    for name, folder in package_dirs(root).items():
        target = into.joinpath(*name.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(folder.glob("*.py")):
            (target / source.name).symlink_to(source)
            staged[str((target / source.name).relative_to(into))] = str(source.relative_to(root))
    for module in modules:
        (into / module).symlink_to(root / module)
        staged[module] = module
    return staged


def check(root: Path = ROOT, cache: Path | None = None, config: Path | None = None,
          modules: tuple[str, ...] = MODULES) -> Result:
    """Run mypy (the configuration in config, default root's pyproject.toml) on root's package as installed."""
    cache = cache or root / ".mypy_cache"
    tree = cache / "sitestack-tree"  # a stable place, so that mypy's cache stays valid from run to run
    staged = stage(root, tree, modules)
    top = sorted({path.split("/", 1)[0] for path in staged})
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config or root / "pyproject.toml"),
         "--cache-dir", str(cache), *top],
        cwd=tree, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    output = REPORTED.sub(lambda match: staged.get(match["path"], match["path"]), result.stdout + result.stderr)
    return Result(result.returncode, output)


if __name__ == "__main__":
    found = check()
    sys.stdout.write(found.output)
    sys.exit(found.status)

"""The benchmarks import nothing from tests/: what both use lives in benchmarks/ (loopback.py, site.py,
underload.py, readload.py), and the tests import it from there."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")

# Import every benchmark module the way `python benchmarks/<name>.py` does (the project root on sys.path,
# tests/ not), then list every loaded module whose file is under tests/.
PROBE = """
import importlib, json, sys
from pathlib import Path
root, tests = Path(sys.argv[1]), Path(sys.argv[1]) / "tests"
sys.path[:] = [str(root)] + [p for p in sys.path[1:] if Path(p or ".").resolve() not in (root, tests)]
for name in sys.argv[2:]:
    importlib.import_module(f"benchmarks.{name}")
loaded = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
print(json.dumps(sorted(f for f in loaded if Path(f).resolve().is_relative_to(tests))))
"""


def test_every_benchmark_module_imports_without_tests_on_the_path() -> None:
    assert {"run", "scrape", "faults", "plone", "site", "loopback"} <= set(BENCHMARKS)
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), *BENCHMARKS], cwd=ROOT / "benchmarks",
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_no_benchmark_puts_tests_on_the_path() -> None:
    for name in BENCHMARKS:
        source = (ROOT / "benchmarks" / f"{name}.py").read_text()
        assert '"tests"' not in source and "'tests'" not in source, f"benchmarks/{name}.py names tests/"

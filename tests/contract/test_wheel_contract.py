"""The wheel pip builds from pyproject.toml installs one name, `sitestack`: every module and template under
sitestack/, nothing at the top level a site's own modules could collide with, and entry points that load
from that tree (built from a copy of the package folders, so the checkout gets no build/ or egg-info)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from typecheck import ROOT, package_dirs

# What the wheel must hold besides the package folders' .py files.
DIST_INFO = "sitestack-0.1.0.dist-info/"

# Imports the unpacked wheel alone (first on sys.path, run from /): every entry point's target, and where
# the templates are found.
PROBE = """
import importlib.metadata, json, sys
sys.path.insert(0, sys.argv[1])
import sitestack.recipes.render as render
dist = next(importlib.metadata.distributions(path=[sys.argv[1]]))
loaded = {}
for ep in dist.entry_points:
    ep.load()
    loaded[f"{ep.group}:{ep.name}"] = ep.value
templates = render.templates_directory()
print(json.dumps({"templates": str(templates), "j2": sorted(path.name for path in templates.glob("*.j2")),
                  "render": render.__file__, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of pyproject.toml and the folders it maps (no network: --no-build-isolation)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    shutil.copy(ROOT / "pyproject.toml", source)
    for folder in {path.relative_to(ROOT).parts[0] for path in package_dirs(ROOT).values()}:
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = out.glob("sitestack-*.whl")
    return found


def test_the_wheel_holds_only_sitestack_and_its_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if not n.startswith(("sitestack/", DIST_INFO))] == []
    expected = {f"{name.replace('.', '/')}/{path.name}"
                for name, folder in package_dirs(ROOT).items() for path in folder.glob("*.py")}
    expected |= {f"sitestack/templates/{path.name}" for path in (ROOT / "templates").glob("*.j2")}
    assert len(expected) > 100 and "sitestack/templates/supervisord.conf.j2" in expected
    assert "sitestack/control/checks/__init__.py" in expected
    assert sorted(n for n in names if not n.startswith(DIST_INFO)) == sorted(expected)


def test_the_unpacked_wheel_loads_its_entry_points_and_templates(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    result = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd="/", capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert found["templates"] == str(tmp_path / "sitestack" / "templates")
    assert found["j2"] == sorted(path.name for path in (ROOT / "templates").glob("*.j2"))
    assert found["render"] == str(tmp_path / "sitestack" / "recipes" / "render.py")
    assert found["loaded"]["zc.buildout:zeoserver"] == "sitestack.recipes.zeoserver:Recipe"
    assert found["loaded"]["zc.buildout.uninstall:crontab"] == "sitestack.recipes.crontab:uninstall"
    assert all(value.startswith("sitestack.") for value in found["loaded"].values()), found["loaded"]
    assert len(found["loaded"]) == 19, found["loaded"]  # 17 recipes (edge the newest), 2 uninstallers

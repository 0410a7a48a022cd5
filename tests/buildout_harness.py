"""Recipe tests drive zc.buildout itself: its Buildout and Options classes in this process, or a real
bin/buildout run in a subprocess. There is no stand-in for either.

`site_buildout()` is zc.buildout's own `Buildout` for a directory, with the sections a test gives and
zc.buildout.testing's `TestOptions` (the class zc.buildout's and zc.recipe.egg's own recipe tests use):
option values are buildout's (`${section:option}` substitution, the access tracking behind its
"unused option" warning, strings only), and `created()` is buildout's. Like zc.buildout.testing, it
does not construct the parts' recipes: a test constructs the one it tries, `Recipe(buildout, name,
buildout[name])`, as bin/buildout would, and runs `install()` through buildout's own `Options._call`
(which records created paths and removes them when the install fails).

`run_buildout()` is the real thing: bin/buildout's main on a buildout.cfg in a directory, offline, with
the project installed in the environment (as `bootstrap.py` does).
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zc.buildout
import zc.buildout.buildout
import zc.buildout.testing

RUN_BUILDOUT = "import sys, zc.buildout.buildout as b; sys.exit(b.main())"


@cache
def _eggs_directory() -> str:
    """One empty eggs directory for the test run: offline, nothing is installed into it, and buildout would
    otherwise create eggs/ in each test's directory (where a test checks that nothing was written)."""
    path = tempfile.mkdtemp(prefix="sitestack-test-eggs-")
    atexit.register(shutil.rmtree, path, True)
    return path


class SiteBuildout(zc.buildout.buildout.Buildout):
    """zc.buildout's Buildout for `directory` (offline, no user defaults), parts given as mappings."""

    Options = zc.buildout.testing.TestOptions

    def __init__(self, directory: str | os.PathLike[str], sections: Mapping[str, Mapping[str, str]]) -> None:
        here, directory = os.getcwd(), str(directory)
        settings = {"directory": directory, "offline": "true", "eggs-directory": _eggs_directory(),
                    "eggs-directory-version": ""}
        try:
            super().__init__("", [("buildout", key, value) for key, value in settings.items()], False)
        except FileNotFoundError as error:
            # Buildout's set-up ends by changing into the directory; unit tests may name a site that is
            # not there (/srv/site, as the golden files do) and never install into it.
            if error.filename != directory:
                raise
        finally:
            os.chdir(here)
        self.add(sections)

    def _setup_logging(self) -> None:
        """Leave logging to pytest: buildout's own set-up adds a stdout handler to the root logger each time."""
        self._logger = logging.getLogger("zc.buildout")
        self._log_level = logging.INFO

    def add(self, sections: Mapping[str, Mapping[str, str]]) -> None:
        """Add sections at once and initialize them, as Buildout.parse does with a config's sections (so
        `${a:b}` may name any of them)."""
        for name, options in sections.items():
            if name in self._raw:
                raise KeyError("Section already exists", name)
            self._raw[name] = {key: str(value) for key, value in options.items()}
        for name in sections:
            self[name]


def site_buildout(directory: str | os.PathLike[str], **sections: Mapping[str, str]) -> SiteBuildout:
    """A buildout in `directory` with these sections ([buildout] gets buildout's defaults below it)."""
    return SiteBuildout(directory, sections)


def install(recipe: Any) -> Any:
    """recipe.install() as bin/buildout calls it: through its Options' _call, in the buildout directory."""
    return _call(recipe, recipe.install)


def update(recipe: Any) -> Any:
    """recipe.update() as bin/buildout calls it (the part installed before, its options unchanged)."""
    return _call(recipe, recipe.update)


def _call(recipe: Any, method: Callable[[], Any]) -> Any:
    directory = Path(recipe.options.buildout["buildout"]["directory"])
    assert directory.is_dir(), f"{directory}: a buildout installs in the directory of its buildout.cfg; make it"
    here = os.getcwd()
    try:
        return recipe.options._call(method)
    finally:
        os.chdir(here)


def unused_options(buildout: SiteBuildout, section: str) -> list[str]:
    """The options of a section nothing has read: what bin/buildout warns about after installing a part."""
    options = buildout[section]
    return sorted(option for option in options._raw if option not in options._data)


def error_of(action: Callable[[], object]) -> str:
    """The message of the zc.buildout.UserError that action raises; the test fails when it raises none."""
    with pytest.raises(zc.buildout.UserError) as error:
        action()
    return str(error.value)


def run_buildout(directory: Path, config: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """bin/buildout (zc.buildout's main) on `config`, written as directory/buildout.cfg."""
    (directory / "buildout.cfg").write_text(config)
    return subprocess.run([sys.executable, "-c", RUN_BUILDOUT, "-c", str(directory / "buildout.cfg")],
                          cwd=directory, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

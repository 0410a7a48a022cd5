"""Fixtures for end-to-end tests: a site built from a copy of the project, and its running stack."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.site import Site, build_site  # noqa: F401 - e2e tests import Site from here
from e2e.site import Stack, copy_project, run
from support import open_directory


@pytest.fixture(scope="session")
def egg_cache() -> Iterator[Path]:
    """Eggs shared by every site a test run builds (SITESTACK_TEST_EGGS keeps them between runs)."""
    path = os.environ.get("SITESTACK_TEST_EGGS")
    if path:
        yield Path(path)
        return
    # every user may read it: the clients run as an unprivileged user when the tests run as root
    eggs = Path(tempfile.mkdtemp(prefix="sitestack-eggs-"))
    eggs.chmod(0o755)
    yield eggs
    shutil.rmtree(eggs, ignore_errors=True)


@pytest.fixture(scope="session")
def bootstrapped() -> Iterator[Path]:
    """A copy of the project after `python3 bootstrap.py`, as a new user's clone would be.

    It lives in a directory every user may traverse: varnishd started as root compiles its VCL
    as user varnish (pytest's own temporary directories are private to root).
    """
    with open_directory() as top:
        path = copy_project(top / "site")
        # `python3` as the README says, whatever PATH finds (a pyenv Python under /root included:
        # bootstrap.py then builds with /usr/bin/python3, which the program users can run)
        python = shutil.which("python3")
        assert python, "no python3 on PATH"
        run([python, "bootstrap.py"], path, timeout=900)
        yield path


def sibling_checkout(bootstrapped: Path, name: str) -> Path:
    """A copy of the project next to the shared site, with the same bin/buildout (not built yet)."""
    dest = bootstrapped.parent / name
    if dest.exists():
        shutil.rmtree(dest)
    copy_project(dest)
    (dest / "bin").mkdir()
    # bootstrap.py's bin/buildout, run from this directory (it changes into the checkout it was made for)
    script = (bootstrapped / "bin" / "buildout").read_text().replace(repr(str(bootstrapped)), repr(str(dest)))
    (dest / "bin" / "buildout").write_text(script)
    (dest / "bin" / "buildout").chmod(0o755)
    return dest


def sibling_site(bootstrapped: Path, egg_cache: Path, name: str, extra: str = "") -> Site:
    """A second site next to the shared one, built with the same bin/buildout."""
    return build_site(sibling_checkout(bootstrapped, name), egg_cache, extra=extra)


@pytest.fixture(scope="session")
def site(bootstrapped, egg_cache) -> Site:
    """The site the e2e tests share (built once; its stack is started per test)."""
    return build_site(bootstrapped, egg_cache)


@pytest.fixture
def stack(site) -> Iterator[Stack]:
    stack = Stack(site.path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()

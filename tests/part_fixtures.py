"""Fixtures the front parts' unit tests share (haproxy, edge, varnish): a stand-in binary, so published
commands do not depend on the machine, and a 2-core build host, which `threads`/`thread-pools = auto`
and the golden files assume. A test module imports the ones it uses."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from buildout_harness import error_of

from sitestack.recipes import system


def stand_in(tmp_path: Path, name: str) -> str:
    """An executable named `name` that accepts anything."""
    binary = tmp_path / name
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return str(binary)


@pytest.fixture
def fake_haproxy(tmp_path: Path) -> str:
    return stand_in(tmp_path, "haproxy")


@pytest.fixture
def refusing_haproxy(tmp_path: Path) -> str:
    """A haproxy whose `-c` refuses every config the way the real one refuses an unknown keyword."""
    binary = tmp_path / "bin" / "haproxy"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\necho \"[ALERT] parsing [$4:3]: unknown keyword 'nbthread'.\" >&2\nexit 1\n")
    binary.chmod(0o755)
    return str(binary)


def assert_refused_before_writing(part: str, make_in: Callable[[str], object], tmp_path: Path) -> None:
    """A haproxy-run part built with `refusing_haproxy`: one error naming the part and what `haproxy -c`
    said, and nothing written in the site directory (recipes/haproxy_master.py check_config)."""
    site = tmp_path / "site"
    site.mkdir()
    message = error_of(lambda: make_in(str(site)))
    # a module of helpers: pytest does not rewrite these asserts, so each says what it saw
    assert message == (f"[{part}] config: haproxy -c refuses the generated file: [ALERT] parsing [haproxy.cfg:3]: "
                       "unknown keyword 'nbthread'."), message
    assert list(site.iterdir()) == [], list(site.iterdir())


@pytest.fixture
def fake_varnishd(tmp_path: Path) -> str:
    return stand_in(tmp_path, "varnishd")


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "host_cores", lambda: 2)

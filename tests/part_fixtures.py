"""Fixtures the front parts' unit tests share (haproxy, edge, varnish): a stand-in binary, so published
commands do not depend on the machine, and a 2-core build host, which `threads`/`thread-pools = auto`
and the golden files assume. A test module imports the ones it uses."""
from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture
def fake_varnishd(tmp_path: Path) -> str:
    return stand_in(tmp_path, "varnishd")


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "host_cores", lambda: 2)

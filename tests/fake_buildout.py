"""A minimal stand-in for zc.buildout to drive Recipe classes: sections as dicts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class FakeOptions(dict[str, str]):
    """A part's options; created() records paths like zc.buildout's Options does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created_paths: list[str] = []

    def created(self, *paths: str) -> list[str]:
        self.created_paths.extend(paths)
        return list(self.created_paths)


def fake_buildout(directory: str | Path) -> dict[str, dict[str, str]]:
    """The [buildout] section a recipe reads its directories from."""
    root = Path(directory)
    return {
        "buildout": {
            "directory": str(root),
            "bin-directory": str(root / "bin"),
            "parts-directory": str(root / "parts"),
        }
    }


@contextmanager
def open_directory() -> Iterator[Path]:
    """A temporary directory every user may traverse (pytest's tmp_path sits under a 0700 one).

    varnishd started as root compiles its VCL as user varnish, which must reach the file.
    """
    path = Path(tempfile.mkdtemp(prefix="sitestack-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

"""A minimal stand-in for zc.buildout's Buildout mapping, to drive recipe adapters in unit tests."""
from __future__ import annotations

from pathlib import Path


class Options(dict):
    """A part's options, with the one method recipes call besides the mapping ones."""

    def created(self, *paths):
        return list(paths)


def fake_buildout(directory: Path, **sections: dict) -> dict[str, Options]:
    """Sections by name; [buildout] gets the usual directories below `directory`."""
    buildout = {
        "buildout": Options(
            directory=str(directory),
            **{
                "bin-directory": str(directory / "bin"),
                "parts-directory": str(directory / "parts"),
                "eggs-directory": str(directory / "eggs"),
                "develop-eggs-directory": str(directory / "develop-eggs"),
                "offline": "true",
            },
        )
    }
    for name, options in sections.items():
        buildout[name] = Options(options)
    return buildout

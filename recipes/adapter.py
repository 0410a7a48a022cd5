"""What every recipe shares with zc.buildout: paths, error translation, egg scripts."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zc.buildout
import zc.buildout.easy_install

from sitestack.recipes.errors import ConfigError


@contextmanager
def user_errors(section: str) -> Iterator[None]:
    """Turn a ConfigError into the one-line-per-problem UserError buildout prints."""
    try:
        yield
    except ConfigError as error:
        raise zc.buildout.UserError(error.describe(section)) from None


class Paths:
    """The buildout's directories, absolute."""

    def __init__(self, buildout: Any) -> None:
        section = buildout["buildout"]
        self.directory = Path(section["directory"])
        self.bin = Path(section["bin-directory"])
        self.parts = Path(section["parts-directory"])
        self.var = self.directory / "var"


def resolve(buildout: Any, eggs: list[str]) -> Any:
    """The working set of eggs (pinned by [versions]), installed into the eggs directory as needed."""
    section = buildout["buildout"]
    if section.get("offline") == "true":
        working_set = zc.buildout.easy_install.working_set(
            eggs, sys.executable, [section["develop-eggs-directory"], section["eggs-directory"]]
        )
    else:
        working_set = zc.buildout.easy_install.install(
            eggs,
            section["eggs-directory"],
            links=section.get("find-links", "").split(),
            index=section.get("index"),
            path=[section["develop-eggs-directory"]],
            newest=section.get("newest") == "true",
            allow_hosts=tuple(h for h in section.get("allow-hosts", "*").split() if h),
        )
    return _stable(working_set)


def egg_scripts(
    buildout: Any,
    eggs: list[str],
    scripts: list[tuple[str, str, str]],
    initialization: str = "",
    arguments: str = "",
) -> list[str]:
    """Install eggs (pinned by [versions]) and write bin/ scripts for entry points.

    scripts: (script name, module, function). Scripts are only rewritten when their
    content changes, so a no-change re-run keeps their mtimes.
    """
    section = buildout["buildout"]
    working_set = resolve(buildout, eggs)
    names = {name: name for name, _, _ in scripts}
    reqs = [(name, module, function) for name, module, function in scripts]
    return list(
        zc.buildout.easy_install.scripts(
            reqs,
            working_set,
            sys.executable,
            section["bin-directory"],
            scripts=names,
            initialization=initialization,
            arguments=arguments,
        )
    )


def _stable(working_set: Any) -> Any:
    """The same distributions in a fixed order (eggs by name, then site-packages).

    A first run that installs eggs lists them in download order, a later run in resolution
    order; sorting keeps the generated scripts byte-identical, so a re-run rewrites nothing.
    """
    ordered = type(working_set)([])
    for dist in sorted(working_set, key=lambda d: (not d.location.endswith(".egg"), d.project_name.lower())):
        ordered.add(dist)
    return ordered


def created(options: MutableMapping[str, str], *paths: str | os.PathLike[str]) -> list[str]:
    """Register paths with buildout (options.created) and return them as strings."""
    return list(options.created(*[str(p) for p in paths]))  # type: ignore[attr-defined]


Validator = Callable[[], None]

"""sitestack's bin/buildout: zc.buildout's main, with every operator mistake reported as one line.

zc.buildout prints a traceback for some configuration mistakes (a missing `extends` file, an INI
syntax error, a misspelt recipe entry point) and a `While:` trail before others; it silently takes
the last of two values given to one option. This front end checks the configuration file first
(encoding, line endings, duplicate options), the buildout directories (no space or non-ASCII
character, unix socket paths short enough), and translates zc.buildout's own errors into
`Error: [section] option: what is wrong (got 'value')`. Bugs (anything else) keep their traceback.
"""
from __future__ import annotations

import ast
import difflib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import zc.buildout
import zc.buildout.buildout
import zc.buildout.configparser

from sitestack.recipes.config_file import check_config_file, config_file_name

_Buildout = zc.buildout.buildout.Buildout
DIRECTORY_OPTIONS = ("directory", "bin-directory", "parts-directory", "eggs-directory", "develop-eggs-directory")
# unix sockets a site makes below its directory (the longest decides); sun_path holds 107 bytes and a NUL
UNIX_PATH_MAX = 107
SOCKETS = ("var/haproxy/admin.sock", "var/supervisor.sock")
RECIPE_DIST = "sitestack"


def fail(message: str) -> NoReturn:
    raise zc.buildout.UserError(message)


def doing(traceback: Any) -> Iterator[str]:
    """What zc.buildout was doing (its `__doing__` frame locals), outermost first."""
    while traceback is not None:
        step = traceback.tb_frame.f_locals.get("__doing__")
        if step:
            yield step if isinstance(step, str) else step[0] % step[1:]
        traceback = traceback.tb_next


def last_option(steps: list[str]) -> tuple[str, str] | None:
    """(section, option) of the last `Getting option section:option.` step."""
    for step in reversed(steps):
        if step.startswith("Getting option ") and ":" in step:
            section, _, option = step.removeprefix("Getting option ").rstrip(".").partition(":")
            return section, option
    return None


def last_section(steps: list[str]) -> str | None:
    """The part zc.buildout was last initializing, installing or updating."""
    for step in reversed(steps):
        for prefix in ("Initializing section ", "Installing ", "Updating "):
            if step.startswith(prefix) and not step.startswith("Installing recipe"):
                return step.removeprefix(prefix).rstrip(".")
    return None


def translate(error: BaseException, steps: list[str], buildout: Any) -> str | None:
    """One line for a zc.buildout error caused by the configuration, or None (a bug: keep the traceback)."""
    option = last_option(steps)
    if isinstance(error, zc.buildout.buildout.MissingOption) and len(error.args) == 3:
        _, section, name = error.args
        reference = "${%s:%s}" % (section, name)
        if option:
            got = _raw(buildout, *option) or reference
            return f"[{option[0]}] {option[1]}: {reference}: [{section}] has no option {name!r} (got {got!r})"
        return f"[{section}] {name}: {reference} refers to an option that does not exist (got {reference!r})"
    if isinstance(error, zc.buildout.buildout.MissingSection):
        name = error.args[0]
        if option:
            got = _raw(buildout, *option) or name
            return f"[{option[0]}] {option[1]}: refers to section [{name}], which does not exist (got {got!r})"
        parts = buildout["buildout"].get("parts", "") if buildout is not None else ""
        return f"[buildout] parts: part {name!r} has no section [{name}] (got {' '.join(parts.split())!r})"
    if isinstance(error, ImportError) and "Entry point" in str(error) and (section := last_section(steps)):
        recipe = _raw(buildout, section, "recipe")
        return f"[{section}] recipe: {recipe_hint(recipe)} (got {recipe!r})"
    return None  # another UserError is one line already; anything else is a bug


def _raw(buildout: Any, section: str, option: str) -> str:
    try:
        return str(buildout._raw[section][option]).strip()
    except (KeyError, TypeError, AttributeError):
        return ""


def recipe_hint(recipe: str) -> str:
    """What is wrong with a recipe name, with a did-you-mean among sitestack's recipes."""
    from importlib.metadata import entry_points

    names = sorted(ep.name for ep in entry_points(group="zc.buildout") if ep.dist and ep.dist.name == RECIPE_DIST)
    dist, _, entry = recipe.partition(":")
    if dist != RECIPE_DIST:
        if difflib.get_close_matches(dist, [RECIPE_DIST], n=1):
            return f"no recipe package {dist!r}; did you mean '{RECIPE_DIST}:{entry or 'default'}'?"
        return f"no recipe package {dist!r} is installed"
    message = f"{RECIPE_DIST} has no recipe {entry!r}"
    if hint := difflib.get_close_matches(entry, names, n=1):
        message += f"; did you mean '{RECIPE_DIST}:{hint[0]}'?"
    return message + f" (its recipes: {', '.join(names)})"


def check_directories(buildout: Any) -> None:
    """Paths the stack's files live under: plain ASCII without spaces, and short enough for its sockets.

    A space or a non-ASCII character would need quoting in supervisor's command lines, the bin/
    scripts' `#!` lines, haproxy's and varnish's arguments and the crontab line: refused, not quoted.
    """
    section = buildout["buildout"]
    for option in DIRECTORY_OPTIONS:
        value = section.get(option, "")
        if any(c.isspace() for c in value) or not value.isascii():
            fail(f"[buildout] {option}: a path with a space or a non-ASCII character is not supported "
                 f"(supervisor, haproxy, varnish and cron command lines); use a plain path (got {value!r})")
    directory = section["directory"]
    for relative in SOCKETS:
        length = len((Path(directory) / relative).as_posix().encode())
        if length > UNIX_PATH_MAX:
            fail(f"[buildout] directory: {directory}/{relative} would be {length} bytes, over the "
                 f"{UNIX_PATH_MAX} a unix socket path may have; build the site in a shorter path (got {directory!r})")


def check_recipes(buildout: Any) -> None:
    """Every part's recipe names an installed recipe (before zc.buildout tries to download a misspelt one)."""
    from importlib.metadata import PackageNotFoundError, distribution

    for part in buildout["buildout"].get("parts", "").split():
        recipe = _raw(buildout, part, "recipe")
        if not recipe:
            continue
        dist, _, entry = recipe.partition(":")
        try:
            found = distribution(dist)
        except PackageNotFoundError:
            if difflib.get_close_matches(dist, [RECIPE_DIST], n=1):
                fail(f"[{part}] recipe: {recipe_hint(recipe)} (got {recipe!r})")
            continue  # another recipe package: zc.buildout installs it
        if found.name == RECIPE_DIST and entry not in {ep.name for ep in found.entry_points
                                                        if ep.group == "zc.buildout"}:
            fail(f"[{part}] recipe: {recipe_hint(recipe)} (got {recipe!r})")


class Buildout(_Buildout):  # type: ignore[misc,valid-type]
    """zc.buildout's Buildout with sitestack's checks first and its errors in one line."""

    def __init__(self, config_file: str, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(config_file, *args, **kwargs)
        except FileNotFoundError as error:
            if not str(error.filename).endswith(".cfg"):  # zc.buildout changes into [buildout] directory
                fail(f"[buildout] directory: no such directory (got {error.filename!r})")
            fail(f"[buildout] extends: no such file {error.filename} (got {Path(error.filename).name!r})")
        except zc.buildout.configparser.MissingSectionHeaderError as error:
            fail(f"{Path(error.filename or config_file).name}: line {error.lineno}: expected a [section] header first "
                 f"(got {error.line.strip()!r})")
        except zc.buildout.configparser.ParsingError as error:
            lineno, line = error.errors[0]
            line = ast.literal_eval(line) if line[:1] in "'\"" else line  # zc.buildout stores its repr
            fail(f"{Path(error.filename or config_file).name}: line {lineno}: expected 'option = value', "
                 f"a [section] header or a comment (got {line.strip()!r})")

    def install(self, install_args: Any) -> Any:
        check_directories(self)
        check_recipes(self)
        try:
            return super().install(install_args)
        except (zc.buildout.UserError, ImportError) as error:
            message = translate(error, list(doing(sys.exc_info()[2])), self)
            if message is None:
                raise
            fail(message)


def main(args: list[str] | None = None) -> None:
    """bin/buildout: check the configuration file, then run zc.buildout with one-line errors."""
    argv = sys.argv[1:] if args is None else args
    try:
        check_config_file(Path(config_file_name(argv)))
    except zc.buildout.UserError as error:
        sys.stderr.write(f"Error: {error}\n")
        raise SystemExit(1) from None
    zc.buildout.buildout.Buildout = Buildout
    # its `While:` trail repeats what the one error line says
    zc.buildout.buildout._doing = lambda: None
    zc.buildout.buildout.main(argv)

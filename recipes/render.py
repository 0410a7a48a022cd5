"""Rendering: one jinja2 template per generated file, strict, with named escaping filters."""
from __future__ import annotations

import importlib.resources
import shlex
from pathlib import Path
from typing import Any

import jinja2


def templates_directory() -> Path:
    """The folder of the installed sitestack.templates package (templates/ in a checkout's editable install)."""
    found = importlib.resources.files("sitestack.templates")
    if not isinstance(found, Path):  # a zipped install: jinja2's FileSystemLoader needs a real folder
        raise RuntimeError(f"sitestack.templates is not a folder on disk (found {found!r})")
    return found


TEMPLATES = templates_directory()


def supervisor_escape(value: object) -> str:
    """Escape '%' for supervisor, keeping its own expansions such as %(program_name)s."""
    from sitestack.recipes.supervisor_model import escape_percent

    return escape_percent(str(value))


def shell_quote(value: object) -> str:
    """Quote one word for a POSIX shell (and for supervisor's shlex-split commands)."""
    return shlex.quote(str(value))


def vcl_string(value: object) -> str:
    """A VCL string literal; VCL has no escapes, so a '"' cannot be represented."""
    text = str(value)
    if '"' in text or "\n" in text:
        raise ValueError(f"cannot put {text!r} into a VCL string")
    return f'"{text}"'


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)
_ENV.filters["supervisor_escape"] = supervisor_escape
_ENV.filters["shell_quote"] = shell_quote
_ENV.filters["vcl_string"] = vcl_string


def render(template: str, **context: Any) -> str:
    """Render templates/<template> with context; a missing variable is an error."""
    return _ENV.get_template(template).render(**context)

"""The one option reader: known options only, converted, every problem reported at once."""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from sitestack.recipes.errors import ConfigError, Invalid, Problem

T = TypeVar("T")
_MISSING = object()
# Options buildout itself puts into every part section.
IMPLICIT = frozenset({"recipe"})


class OptionReader:
    """Reads a section's options through converters and collects what is wrong."""

    def __init__(self, options: Mapping[str, str], known: Iterable[str]) -> None:
        self.options = options
        self.known = frozenset(known) | IMPLICIT
        self.problems: list[Problem] = []
        self._check_unknown()

    def _check_unknown(self) -> None:
        for option in sorted(set(self.options) - self.known):
            hint = difflib.get_close_matches(option, sorted(self.known - IMPLICIT), n=1)
            message = "unknown option"
            if hint:
                message += f"; did you mean {hint[0]!r}?"
            self.problems.append(Problem(option, message, self.options[option]))

    def has(self, option: str) -> bool:
        return option in self.options and self.options[option].strip() != ""

    def raw(self, option: str, default: str = "") -> str:
        return self.options.get(option, default)

    def get(self, option: str, convert: Callable[[str], T], default: T) -> T:
        """The converted value, or default when the option is absent or empty."""
        if not self.has(option):
            return default
        text = self.options[option]
        try:
            return convert(text)
        except Invalid as error:
            self.problems.append(Problem(option, str(error), text.strip()))
            return default

    def require(self, option: str, convert: Callable[[str], T]) -> T | None:
        """The converted value; a missing option is a problem."""
        if not self.has(option):
            self.problems.append(Problem(option, "is required", None))
            return None
        return self.get(option, convert, None)

    def problem(self, option: str, message: str, value: str | None = None) -> None:
        self.problems.append(Problem(option, message, value))

    def done(self) -> None:
        """Raise every collected problem at once."""
        if self.problems:
            raise ConfigError(list(self.problems))

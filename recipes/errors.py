"""One error type for everything a user can fix in their configuration."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """What is wrong with one option: its name, the message, and the value given."""

    option: str
    message: str
    value: str | None = None

    def describe(self, section: str) -> str:
        text = f"[{section}] {self.option}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        return text


class Invalid(ValueError):
    """Raised by a converter: says what was expected, knows nothing of sections."""


class ConfigError(Exception):
    """One or more problems in one section; the adapter adds the section name."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.option}: {p.message}" for p in problems))
        self.problems = problems

    @classmethod
    def single(cls, option: str, message: str, value: str | None = None) -> "ConfigError":
        return cls([Problem(option, message, value)])

    def describe(self, section: str) -> str:
        return "\n".join(p.describe(section) for p in self.problems)

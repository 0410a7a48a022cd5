"""Tiny converters from option text to values; each says what it expected.

Converters know the value only; the option reader adds the section and the option.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid

TRUE = frozenset({"true", "yes", "on", "1"})
FALSE = frozenset({"false", "no", "off", "0"})
_SIZE = re.compile(r"^(\d+)\s*(KB|MB|GB)?$", re.IGNORECASE)
_FACTOR = {None: 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^(\d+)\s*(ms|s|m|h|d)$")
# A URL path that needs no quoting in haproxy.cfg or VCL: no spaces, quotes, '#' or '\\'.
_URL_PATH = re.compile(r"/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*")
_MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def boolean(text: str) -> bool:
    """The one truth table: true/yes/on/1 and false/no/off/0."""
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise Invalid("expected true or false")


def integer(text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number, optionally within bounds."""
    value = text.strip()
    if not re.fullmatch(r"[+-]?\d+", value):
        raise Invalid("expected a whole number")
    number = int(value)
    if minimum is not None and number < minimum:
        raise Invalid(f"expected a whole number of at least {minimum}")
    if maximum is not None and number > maximum:
        raise Invalid(f"expected a whole number of at most {maximum}")
    return number


def port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        return integer(text, 1, 65535)
    except Invalid:
        raise Invalid("expected a TCP port from 1 to 65535") from None


def priority(text: str) -> int:
    """A supervisor priority: 0 to 999."""
    try:
        return integer(text, 0, 999)
    except Invalid:
        raise Invalid("expected a priority from 0 to 999") from None


def byte_size(text: str) -> int:
    """A size in bytes: 800MB, 1GB, 512KB or a plain number of bytes."""
    match = _SIZE.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise Invalid("expected a size such as 800MB, 1GB or 512KB")
    unit = match.group(2).upper() if match.group(2) else None
    return int(match.group(1)) * _FACTOR[unit]


def format_size(size: int) -> str:
    """The shortest exact spelling of a size, as memmon and supervisor read it."""
    for unit in ("GB", "MB", "KB"):
        if size % _FACTOR[unit] == 0:
            return f"{size // _FACTOR[unit]}{unit}"
    return str(size)


class InvalidHost(Invalid):
    """Not an IP address: the host of an address is what is wrong."""


def host(text: str) -> str:
    """An IP address (the stack binds addresses, not names, so nothing depends on DNS)."""
    value = text.strip()
    if value == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise InvalidHost("expected an IP address such as 127.0.0.1") from None


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"


def name(text: str) -> str:
    """A program, group or part name: letters, digits, '_', '.', '-'."""
    value = text.strip()
    if not _NAME.fullmatch(value):
        raise Invalid("expected a name of letters, digits, '_', '.' and '-'")
    return value


def octal_mode(text: str) -> int:
    """A file mode such as 0700."""
    value = text.strip()
    if not re.fullmatch(r"0?[0-7]{3,4}", value):
        raise Invalid("expected an octal file mode such as 0700")
    return int(value, 8)


def email(text: str) -> str:
    """One e-mail address."""
    value = text.strip()
    if not re.fullmatch(r"[^@\s,;'\"]+@[^@\s,;'\"]+\.[^@\s,;'\"]+", value):
        raise Invalid("expected an e-mail address such as ops@example.com")
    return value


def single_line(text: str) -> str:
    """Any text on one line without control characters."""
    value = text.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Invalid("expected one line of text without control characters")
    return value


@dataclass(frozen=True, order=True)
class Duration:
    """A time span; prints as the shortest exact spelling haproxy and VCL both read (2s, 500ms)."""

    milliseconds: int

    @property
    def seconds(self) -> float:
        return self.milliseconds / 1000

    def __str__(self) -> str:
        for unit in ("d", "h", "m", "s"):
            if self.milliseconds % _MILLISECONDS[unit] == 0:
                return f"{self.milliseconds // _MILLISECONDS[unit]}{unit}"
        return f"{self.milliseconds}ms"


def duration(text: str) -> Duration:
    """A positive time span with its unit: 500ms, 1s, 2m, 1h, 1d (a bare number is ambiguous)."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise Invalid("expected a duration such as 500ms, 1s or 2m")
    return Duration(int(match.group(1)) * _MILLISECONDS[match.group(2)])


def address(text: str) -> Address:
    """host:port with an IP address (IPv6 in brackets: [::1]:8080) or localhost: the one parser of
    an address's text."""
    value = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", value)
    if not match:
        raise Invalid("expected host:port such as 127.0.0.1:8080")
    try:
        return Address(host(match.group(1) or match.group(3)), port(match.group(2) or match.group(4)))
    except Invalid as error:
        raise type(error)(f"expected host:port such as 127.0.0.1:8080; {error}") from None


def url_path(text: str) -> str:
    """An absolute URL path such as /health."""
    value = text.strip()
    if not _URL_PATH.fullmatch(value):
        raise Invalid("expected a URL path such as /health")
    return value

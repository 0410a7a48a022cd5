"""A TCP address as a value: host and port, parsed once where text comes in (`convert.address`,
`Site.load`), printed by `str()` only where text goes out (published options, site.json, templates)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# hosts that mean "every address of this machine"
WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class Address:
    """Where a program listens: an IP address (IPv6 without brackets) and a TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        """host:port, with an IPv6 host in brackets: [::1]:8080."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True for 127.0.0.0/8 and ::1."""
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    def clashes_with(self, other: Address) -> bool:
        """Both cannot be bound at once: the same port on the same host, or on a wildcard."""
        return self.port == other.port and (self.host == other.host or bool({self.host, other.host} & set(WILDCARDS)))

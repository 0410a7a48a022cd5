"""What a part publishes for the supervisor part: its programs, as buildout options.

A part that runs programs sets `programs = name1 name2` and, for each program,
`<name>-command`, `<name>-directory`, `<name>-priority`, `<name>-group` and, where they
apply, `<name>-health-url`, `<name>-memory-quota`, `<name>-address`, `<name>-user`,
`<name>-stopsignal`, `<name>-stopwaitsecs`, `<name>-startsecs`, `<name>-environment`
(KEY=value lines), `<name>-watchdog` (true: httpok restarts it when its health URL fails),
`<name>-start-timeout` (seconds a restart waits for it to answer; the watchdog's grace for it),
`<name>-settings` (more supervisor options as `key=value` lines, e.g. numprocs, exitcodes),
`<name>-kind` (`eventlistener` for an event listener, with `<name>-events`), and for a program whose
config file its own binary checks, `<name>-consumer` (haproxy or varnish) with `<name>-config`,
`<name>-secret` and `<name>-admin` (host:port). The optional ones are only set when they are not
empty. The supervisor part reads them back with `collect`. Addresses are `Address` values in a
`PublishedProgram` and host:port text in the options: `publish` prints them, `decode` parses them.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.description import CONSUMERS, Consumer, optional_address
from sitestack.recipes.errors import ConfigError, Invalid, Problem


@dataclass(frozen=True)
class PublishedProgram:
    """One long-running program a part asks supervisor to run."""

    name: str
    command: str
    directory: str
    priority: int
    group: str
    health_url: str = ""
    memory_quota: int | None = None
    address: Address | None = None
    user: str = ""
    stopsignal: str = "TERM"
    stopwaitsecs: int = 10
    startsecs: int = 1
    environment: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # restart it when its health URL fails (httpok); haproxy and varnish say no: their health
    # URLs fail whenever every client is down, and restarting them would not help
    watchdog: bool = False
    # any other option of supervisor's [program:x] (or [eventlistener:x]), checked by the publishing part
    settings: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    kind: str = "program"  # or "eventlistener"
    events: str = ""  # an event listener's events
    # seconds a restart waits for it to answer its health URL (0: the restart's default); also the
    # watchdog's grace for a process that has not answered since it started
    start_timeout: int = 0
    # more addresses it listens on besides `address` (varnish's admin port), for the port-clash check
    other_addresses: tuple[Address, ...] = ()
    consumer: Consumer | None = None

    @property
    def numprocs(self) -> int:
        """How many processes supervisor runs of it (its settings are checked: a whole number)."""
        return int(dict(self.settings).get("numprocs", "1"))


def publish(options: MutableMapping[str, str], programs: list[PublishedProgram]) -> None:
    """Set the options that describe programs on a part's section."""
    options["programs"] = " ".join(p.name for p in programs)
    for p in programs:
        options[f"{p.name}-command"] = p.command
        options[f"{p.name}-directory"] = p.directory
        options[f"{p.name}-priority"] = str(p.priority)
        options[f"{p.name}-group"] = p.group
        options[f"{p.name}-health-url"] = p.health_url
        options[f"{p.name}-memory-quota"] = (
            convert.format_size(p.memory_quota) if p.memory_quota else ""
        )
        options[f"{p.name}-address"] = str(p.address) if p.address else ""
        options[f"{p.name}-user"] = p.user
        options[f"{p.name}-stopsignal"] = p.stopsignal
        options[f"{p.name}-stopwaitsecs"] = str(p.stopwaitsecs)
        options[f"{p.name}-startsecs"] = str(p.startsecs)
        options[f"{p.name}-environment"] = "\n".join(f"{k}={v}" for k, v in p.environment)
        options[f"{p.name}-watchdog"] = "true" if p.watchdog else "false"
        if p.start_timeout:
            options[f"{p.name}-start-timeout"] = str(p.start_timeout)
        if p.settings:
            options[f"{p.name}-settings"] = "\n".join(f"{k}={v}" for k, v in p.settings)
        if p.kind != "program":
            options[f"{p.name}-kind"] = p.kind
            options[f"{p.name}-events"] = p.events
        if p.other_addresses:
            options[f"{p.name}-other-addresses"] = " ".join(str(a) for a in p.other_addresses)
        if p.consumer:
            options[f"{p.name}-consumer"] = p.consumer.kind
            options[f"{p.name}-config"] = p.consumer.config
            if p.consumer.secret:
                options[f"{p.name}-secret"] = p.consumer.secret
            if p.consumer.admin:
                options[f"{p.name}-admin"] = str(p.consumer.admin)


def publishes_programs(options: Mapping[str, str]) -> bool:
    return "programs" in options and all(
        f"{name}-command" in options for name in options["programs"].split()
    )


def collect(part: str, options: Mapping[str, str]) -> list[PublishedProgram]:
    """Read back the programs a part published; a malformed entry is a ConfigError."""
    programs = []
    for name in options.get("programs", "").split():
        try:
            programs.append(decode(name, options))
        except Invalid as error:
            raise ConfigError([Problem("programs", f"part {part!r} published a bad value for {name!r}: {error}")]) from None
    return programs


def decode(name: str, options: Mapping[str, str]) -> PublishedProgram:
    """One published program from its `<name>-...` options (the inverse of `publish`)."""
    def get(key: str, default: str = "") -> str:
        return options.get(f"{name}-{key}", default)

    quota = get("memory-quota").strip()
    environment = tuple((key, value) for key, _, value in
                        (line.partition("=") for line in get("environment").splitlines() if line.strip()))
    return PublishedProgram(
        name=name,
        command=get("command"),
        directory=get("directory"),
        priority=convert.priority(get("priority")),
        group=get("group"),
        health_url=get("health-url"),
        memory_quota=convert.byte_size(quota) if quota else None,
        address=optional_address(get("address")),
        user=get("user"),
        stopsignal=get("stopsignal", "TERM") or "TERM",
        stopwaitsecs=convert.integer(get("stopwaitsecs", "10"), 0),
        startsecs=convert.integer(get("startsecs", "1"), 0),
        environment=environment,
        watchdog=convert.boolean(get("watchdog", "false")),
        settings=_settings(get("settings"), get("kind", "program")),
        kind=_kind(get("kind", "program")),
        events=get("events"),
        other_addresses=tuple(convert.address(word) for word in get("other-addresses").split()),
        start_timeout=convert.integer(get("start-timeout", "0"), 0),
        consumer=_consumer(get("consumer"), get("config"), get("secret"), get("admin")),
    )


def _consumer(kind: str, config: str, secret: str, admin: str) -> Consumer | None:
    if not kind.strip():
        return None
    if kind.strip() not in CONSUMERS:
        raise Invalid("expected consumer " + " or ".join(CONSUMERS))
    return Consumer(kind.strip(), config, secret, optional_address(admin))


def _kind(text: str) -> str:
    value = text.strip() or "program"
    if value not in ("program", "eventlistener"):
        raise Invalid("expected kind program or eventlistener")
    return value


def _settings(text: str, kind: str) -> tuple[tuple[str, str], ...]:
    """`key=value` lines, checked against supervisor's options for the kind of section."""
    from sitestack.recipes.supervisor_model import LISTENER_OPTIONS, PROGRAM_OPTIONS, convert_settings

    pairs = []
    for line in text.splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            if not sep:
                raise Invalid(f"expected key=value settings (got {line.strip()!r})")
            pairs.append((key.strip(), value.strip()))
    known = LISTENER_OPTIONS if kind.strip() == "eventlistener" else PROGRAM_OPTIONS
    return convert_settings(pairs, known)

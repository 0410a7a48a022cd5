"""The newest backup in `bin/sitestack status` and `bin/sitestack check`."""
from __future__ import annotations

import time

from sitestack.backup.points import disk_usage, newest_backup
from sitestack.control.site import Site


def describe_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    return f"{count:.1f}TB"


def status_line(site: Site, now: float | None = None) -> str | None:
    """'backup  newest <stamp> (<kind>), <age> old, <size>; location <path> <usage>', or None without a backup part."""
    from sitestack.control.restore import backup_config

    config = backup_config(site)
    if config is None:
        return None
    point = newest_backup(config.location)
    if point is None:
        return f"{'backup':<28} none yet in {config.location}"
    age = (time.time() if now is None else now) - point.time.timestamp()
    return (f"{'backup':<28} newest {point.stamp} ({point.kind}), {describe_age(age)} old, restores "
            f"{size(point.size)}; {config.location} uses {size(disk_usage(config.location))}")


def check_finding(site: Site, now: float | None = None) -> tuple[str, str, str] | None:
    """(status, what, detail) for check: warn when the newest backup is older than the schedule allows."""
    from sitestack.control.restore import backup_config

    config = backup_config(site)
    if config is None:
        return None
    point = newest_backup(config.location)
    what = f"backups in {config.location}"
    if point is None:
        return "warn", what, "no complete backup yet (bin/backup takes one)"
    age = (time.time() if now is None else now) - point.time.timestamp()
    if age > config.max_age:
        return "warn", what, (f"the newest, {point.stamp}, is {describe_age(age)} old; the schedule allows "
                              f"{describe_age(config.max_age)} (see var/log/backup.log)")
    return "ok", what, f"newest {point.stamp} is {describe_age(age)} old (allowed {describe_age(config.max_age)})"

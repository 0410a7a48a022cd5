"""The machine the stack runs on: system binaries and system users (read-only look-ups)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
from pathlib import Path

from sitestack.recipes import convert
from sitestack.recipes.errors import Invalid
from sitestack.recipes.options import OptionReader

# Debian keeps daemons in sbin, which is not on a normal user's PATH.
EXTRA_PATH = ("/usr/sbin", "/sbin")


def find_binary(text: str, package: str, search_path: str | None = None) -> str:
    """The absolute path of an executable, looked up on PATH plus /usr/sbin:/sbin."""
    value = text.strip()
    if search_path is None:
        search_path = os.pathsep.join([os.environ.get("PATH", os.defpath), *EXTRA_PATH])
    found = shutil.which(value, path=search_path) if value else None
    if found is None:
        raise Invalid(f"{value or 'binary'} not found; install it with: apt-get install -y {package}")
    return os.path.abspath(found)


def read_binary(reader: OptionReader, default: str, package: str) -> str:
    """The `binary` option (default: the program's usual name) as an absolute path."""
    text = reader.raw("binary").strip() or default
    try:
        return find_binary(text, package)
    except Invalid as error:
        reader.problem("binary", str(error), text)
        return text


def host_cores() -> int:
    """CPU cores this process may run on (its affinity mask, so a cpuset or taskset counts)."""
    return len(os.sched_getaffinity(0)) or 1


def share_of_cores(text: str, divisor: int, auto_maximum: int, maximum: int) -> int:
    """`auto` (cores // divisor, at least 1, at most auto_maximum) or a count from 1 to maximum."""
    if text.strip().lower() == "auto":
        return max(1, min(auto_maximum, host_cores() // divisor))
    try:
        return convert.integer(text, 1, maximum)
    except Invalid:
        raise Invalid(f"expected auto or a number from 1 to {maximum}") from None


def user_ids(name: str) -> tuple[int, frozenset[int]] | None:
    """(uid, all group ids) of a system user, or None when there is no such user."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return entry.pw_uid, frozenset(groups)


def existing_user(text: str) -> str:
    """The name of a user that exists on this machine."""
    value = text.strip()
    if user_ids(value) is None:
        raise Invalid("expected the name of a user on this machine")
    return value


def _allows(info: os.stat_result, uid: int, gids: frozenset[int], bit: int) -> bool:
    """Whether the owner/group/other class that applies to uid has permission bit (r=4, x=1)."""
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & (bit << 6))
    if info.st_gid in gids:
        return bool(info.st_mode & (bit << 3))
    return bool(info.st_mode & bit)


def blocked_directory(path: str | Path, user: str) -> Path | None:
    """The first existing directory on the way to path that user may not enter, else None.

    Directories that do not exist yet are created by the recipes with mode 0755.
    """
    ids = user_ids(user)
    if ids is None:
        return None
    uid, gids = ids
    target = Path(path).absolute()
    for directory in [*reversed(target.parents)]:
        try:
            info = directory.stat()
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(info.st_mode) and not _allows(info, uid, gids, 1):
            return directory
    return None


def program_user(reader: OptionReader, reach: list[Path]) -> str:
    """The `user` option: who supervisord (running as root) starts the program as; '' when not root.

    supervisord can only switch users when it runs as root; otherwise the option has no effect.
    The user must exist and be able to enter every directory on the way to the paths in reach.
    """
    text = reader.raw("user").strip()
    if not text or os.geteuid() != 0:
        return ""
    if user_ids(text) is None:
        reader.problem("user", "expected the name of a user on this machine; create it with: useradd --system "
                       f"--no-create-home --shell /usr/sbin/nologin {text}", text)
        return ""
    for path in reach:
        if blocked := blocked_directory(path, text):
            reader.problem("user", f"user {text!r} may not enter {blocked} (on the way to {path}); "
                           f"allow it (chmod o+x {blocked}) or build the site elsewhere", text)
            return ""
    return text


def chown_tree(path: str | Path, user: str) -> None:
    """Give path and everything below it to user (and the user's group)."""
    entry = pwd.getpwnam(user)
    for directory, dirnames, filenames in os.walk(path):
        for name in (directory, *(os.path.join(directory, n) for n in dirnames + filenames)):
            os.lchown(name, entry.pw_uid, entry.pw_gid)

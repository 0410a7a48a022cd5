"""Writing generated files: atomic, and only when the content changed."""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def write_if_changed(path: str | Path, content: str, mode: int = 0o644) -> bool:
    """Write content atomically unless the file already holds it; always enforce mode.

    Returns True when the file was (re)written. A reader never sees a half-written
    file: the content goes to a temporary file in the same directory, then replaces it.
    """
    target = Path(path)
    data = content.encode("utf-8")
    try:
        if target.read_bytes() == data:
            if (target.stat().st_mode & 0o7777) != mode:
                os.chmod(target, mode)
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def read_or_create_secret(path: str | Path) -> str:
    """A secret kept in a 0600 file: generated once, then reused."""
    target = Path(path)
    if target.exists():
        os.chmod(target, 0o600)
        value = target.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = secrets.token_urlsafe(24)
    write_if_changed(target, value + "\n", 0o600)
    return value


def cannot_create(directory: str | Path) -> str | None:
    """Why files could not be created in directory (creating it if missing), or None.

    Checked by trying, in the nearest directory that exists: permission bits say nothing
    to root, and /proc, /sys, read-only mounts or an immutable directory refuse anyway.
    """
    target = Path(directory).absolute()
    existing = next((p for p in (target, *target.parents) if os.path.lexists(p)), Path("/"))
    if not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".sitestack-probe-"))
    except OSError as error:
        return f"cannot create anything in {existing} ({error.strerror or error})"
    return None


def private_directory(path: str | Path) -> bool:
    """A directory only its owner may enter (0700), made so again on every run; True when created."""
    made = ensure_directory(path, 0o700)
    if os.stat(path).st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
    return made


def ensure_directory(path: str | Path, mode: int = 0o755) -> bool:
    """Create a directory (and parents) if missing; True when created."""
    target = Path(path)
    if target.is_dir():
        return False
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, mode)
    return True

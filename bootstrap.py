#!/usr/bin/env python3
"""Prepare a sitestack checkout: a local environment with pinned zc.buildout, and bin/buildout.

Standard library only. Safe to run again: it only does what is not done yet.
It never downloads a script; packages come from the package index through pip.

    python3 bootstrap.py                         # environment + bin/buildout
    python3 bootstrap.py --install-system-packages   # also apt-get the missing haproxy/varnish/cron
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
BIN = HERE / "bin"
# What bin/buildout runs with. The stack's own eggs (ZEO, supervisor, ...) are pinned
# in base.cfg's [versions] and installed by bin/buildout.
PINS = (
    "pip==26.3",
    "setuptools==84.2.1",
    "wheel==0.48.0",
    "packaging==26.3",
    "platformdirs==4.14.7",
    "zc.buildout==6.0.1",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
)
# Programs the stack runs that come from the system, and the Debian package of each.
SYSTEM_BINARIES = {"haproxy": "haproxy", "varnishd": "varnish", "crontab": "cron"}
PROGRAM_USER = "sitestack"
# Users the stack's programs run as when supervisord runs as root: they must reach the interpreter.
PROGRAM_USERS = (PROGRAM_USER, "varnish")
SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC = "SITESTACK_BOOTSTRAP_PYTHON"
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def say(message: str) -> None:
    print(f"bootstrap: {message}", flush=True)


def fail(message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
    print(f"bootstrap: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def run(*command: str) -> None:
    """Run a command quietly; on failure show what it said."""
    result = subprocess.run(command, cwd=HERE, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        fail(f"{' '.join(command)} exited with {result.returncode}")


def find_binary(name: str) -> str | None:
    """A system binary on PATH or in the sbin directories (not always on a user's PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(name, path=path)


def is_debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def apt_install(packages: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        say("running " + " ".join(command))
        if subprocess.run(command, env=env).returncode != 0:
            fail(f"{' '.join(command)} failed")


def check_system(install: bool) -> None:
    """Say which system programs are missing, with the exact command that installs them."""
    missing = sorted({pkg for binary, pkg in SYSTEM_BINARIES.items() if not find_binary(binary)})
    if not missing:
        say("haproxy, varnishd and crontab found")
        return
    command = "apt-get install -y " + " ".join(missing)
    if install and os.geteuid() == 0 and is_debian():
        apt_install(missing)
        return
    say(f"missing system packages: {', '.join(missing)}; install them with:")
    print(f"    {command}" if os.geteuid() == 0 else f"    sudo {command}", flush=True)
    if os.geteuid() == 0 and is_debian():
        say("or re-run: python3 bootstrap.py --install-system-packages")


def check_user(install: bool) -> None:
    """As root, programs run as the unprivileged user `sitestack` (base.cfg [site] user): create it."""
    if os.geteuid() != 0:
        return
    import pwd

    try:
        pwd.getpwnam(PROGRAM_USER)
        return
    except KeyError:
        pass
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PROGRAM_USER]
    if install:
        say(f"creating the system user {PROGRAM_USER} (the app clients and haproxy run as it)")
        run(*command)
        return
    say(f"no user {PROGRAM_USER!r}: as root, the app clients and haproxy run as it; create it with:")
    print("    " + " ".join(command), flush=True)
    say("or re-run: python3 bootstrap.py --install-system-packages")


def may_enter(path: Path, user: str) -> bool:
    """Whether user may search directory path (a user not created yet counts as 'other')."""
    import grp
    import pwd

    try:
        entry = pwd.getpwnam(user)
        uid, gids = entry.pw_uid, {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    except KeyError:
        uid, gids = -1, set()
    info = path.stat()
    if uid == 0:
        return True
    shift = 6 if info.st_uid == uid else 3 if info.st_gid in gids else 0
    return bool(info.st_mode & (0o1 << shift))


def python_paths(python: str) -> list[Path]:
    """The interpreter's real executable and its standard library (what a program user must reach)."""
    code = "import os, sys; print(os.path.realpath(sys.executable)); print(os.__file__)"
    result = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return [Path(line) for line in result.stdout.splitlines()] if result.returncode == 0 else []


def blocked(paths: list[Path]) -> tuple[str, Path, Path] | None:
    """(user, directory, path) for the first directory on the way to a path that a program user may not enter."""
    for user in PROGRAM_USERS:
        for path in paths:
            for directory in reversed(path.parents):
                if not may_enter(directory, user):
                    return user, directory, path
    return None


def choose_python(install: bool) -> None:
    """As root, build with an interpreter the program users can run: this one, else /usr/bin/python3.

    A pyenv/conda/uv/asdf Python under root's home (mode 0700) cannot be run by `sitestack`. When
    there is nothing to switch to, stop before doing anything, with the command that fixes it.
    """
    if os.geteuid() != 0:
        return  # supervisord started by this user runs the programs as this user
    here = blocked([Path(os.path.realpath(sys.executable)), Path(os.__file__)])
    if here is None:
        return
    user, directory, path = here
    reason = f"{sys.executable} cannot be run by user {user} ({directory} is closed to it, on the way to {path})"
    if os.environ.get(REEXEC):
        fail(reason)
    system = python_paths(SYSTEM_PYTHON) if Path(SYSTEM_PYTHON).exists() else []
    if not system and install and is_debian():
        say(f"{reason}; installing Debian's python3 to build with")
        apt_install(["python3", "python3-venv"])
        system = python_paths(SYSTEM_PYTHON)
    if not system or blocked(system):
        fail(f"{reason}, and there is no {SYSTEM_PYTHON} every user can run; install it with: "
             "apt-get install -y python3 python3-venv (or: python3 bootstrap.py --install-system-packages)")
    say(f"{reason}; building the environment with {SYSTEM_PYTHON} instead")
    os.environ[REEXEC] = SYSTEM_PYTHON
    os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, str(Path(__file__).resolve()), *sys.argv[1:]])


def check_site_path() -> None:
    """A site path with a space or a non-ASCII character breaks #! lines and command lines: refused."""
    text = str(HERE)
    if any(c.isspace() for c in text) or not text.isascii():
        fail(f"the site's path has a space or a non-ASCII character, which the bin/ scripts' #! lines and "
             f"supervisor's, haproxy's and cron's command lines cannot carry; move it to a plain path (got {text!r})")


def venv_base() -> Path | None:
    """The interpreter .venv was made from (pyvenv.cfg's `executable`), if there is one."""
    try:
        lines = (VENV / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return None
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    executable = {k.strip(): v.strip() for k, v in values.items()}.get("executable")
    return Path(os.path.realpath(executable)) if executable else None


def venv_python() -> Path:
    return VENV / "bin" / "python"


def make_venv(install: bool) -> None:
    made_with = venv_base()
    if made_with is not None and made_with != Path(os.path.realpath(sys.executable)):
        say(f"{VENV} was made with {made_with}; making it again with {sys.executable}")
        shutil.rmtree(VENV)
    if venv_python().exists():
        probe = subprocess.run([str(venv_python()), "-c", "import pip"], capture_output=True)
        if probe.returncode == 0:
            return
        say(f"{VENV} is broken; making it again")
        shutil.rmtree(VENV)
    try:
        import ensurepip  # noqa: F401
        import venv
    except ImportError:
        if install and os.geteuid() == 0 and is_debian():
            apt_install(["python3-venv"])
            os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])
        fail("this Python has no venv/ensurepip; install it with: apt-get install -y python3-venv")
    say(f"creating {VENV}")
    wheel = bundled_pip_wheel()
    if wheel is None:
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
        return
    # Faster than with_pip=True: no ensurepip run; the bundled pip wheel installs the pinned pip
    # together with everything else in one go (install_packages).
    venv.EnvBuilder(with_pip=False, clear=False).create(VENV)
    run(str(venv_python()), str(wheel / "pip"), "install", "--quiet", "--disable-pip-version-check", *PINS)


def bundled_pip_wheel() -> Path | None:
    """The pip wheel this Python's ensurepip would install (pip runs from a wheel file)."""
    try:
        import ensurepip

        package = ensurepip._get_packages()["pip"]  # type: ignore[attr-defined]
        path = Path(package.wheel_path or Path(ensurepip.__file__).parent / "_bundled" / package.wheel_name)
    except Exception:  # noqa: BLE001 - any surprise: fall back to ensurepip itself
        return None
    return path if path.is_file() else None


def installed_versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m\n"
        "for d in m.distributions():\n"
        "    print(d.metadata['Name'], d.version)\n"
    )
    out = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True).stdout
    return {
        line.split()[0].lower().replace("_", "-").replace(".", "-"): line.split()[1]
        for line in out.splitlines()
        if len(line.split()) == 2
    }


def install_packages() -> None:
    have = installed_versions()
    wanted = [pin for pin in PINS if have.get(pin.split("==")[0].lower().replace(".", "-")) != pin.split("==")[1]]
    pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if wanted:
        say("installing " + " ".join(wanted))
        run(*pip, *wanted)
    # The editable install maps the packages pyproject.toml lists: redo it when that file changes.
    stamp = VENV / "sitestack-pyproject.sha256"
    digest = hashlib.sha256((HERE / "pyproject.toml").read_bytes()).hexdigest()
    editable = list(VENV.glob("lib/python*/site-packages/__editable__*sitestack*"))
    if "sitestack" not in have or not editable or not stamp.exists() or stamp.read_text() != digest:
        say("installing sitestack's recipes (editable)")
        run(*pip, "--no-deps", "--no-build-isolation", "-e", str(HERE))
        stamp.write_text(digest)


def write_buildout_script() -> None:
    BIN.mkdir(exist_ok=True)
    script = BIN / "buildout"
    content = (
        f"#!{venv_python()}\n"
        '"""Run zc.buildout for this sitestack checkout, mistakes in one line (written by bootstrap.py)."""\n'
        "import os\n"
        "import sys\n\n"
        f"os.chdir({str(HERE)!r})\n"
        "import sitestack.recipes.command\n\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(sitestack.recipes.command.main())\n"
    )
    if not script.exists() or script.read_text() != content:
        script.write_text(content)
        say(f"wrote {script}")
    script.chmod(0o755)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--install-system-packages",
        action="store_true",
        help="as root on Debian, apt-get install what is missing (python3-venv, haproxy, varnish, cron)",
    )
    args = parser.parse_args()
    check_site_path()
    choose_python(args.install_system_packages)
    if sys.version_info < (3, 11):
        fail(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    check_system(args.install_system_packages)
    check_user(args.install_system_packages)
    make_venv(args.install_system_packages)
    install_packages()
    write_buildout_script()
    say("done; next: bin/buildout")


if __name__ == "__main__":
    main()

"""The Ansible side of tests/e2e/test_multihost.py: a repository to deploy, the packages the hosts install
without a network, the inventory, and ansible-playbook runs with their PLAY RECAP.

The hosts (tests/e2e/hosts.py) share this machine's filesystem but not its network: bootstrap.py's pip
installs from a wheel directory made here (PIP_NO_INDEX), and bin/buildout takes its eggs from the test
run's egg cache ([buildout] eggs-directory in each host's host.cfg). Nothing else is shared: each host
has its own checkout, site and crontab file.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import bootstrap
from e2e.hosts import Host, Network
from e2e.site import copy_project, run
from support import ROOT

PLAYBOOKS = ROOT / "ansible"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
GIT = {"GIT_AUTHOR_NAME": "sitestack tests", "GIT_AUTHOR_EMAIL": "tests@sitestack.invalid",
       "GIT_COMMITTER_NAME": "sitestack tests", "GIT_COMMITTER_EMAIL": "tests@sitestack.invalid"}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **GIT}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def make_repository(dest: Path) -> str:
    """The project's files as a git repository with one commit on `main`; its commit id."""
    copy_project(dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "the site as the tests deploy it")
    return git(dest, "rev-parse", "HEAD")


def commit_change(repo: Path, name: str, text: str, message: str) -> str:
    """A new commit on `main` that writes one file; its commit id."""
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def wheel_directory(dest: Path) -> Path:
    """Wheels of everything bootstrap.py installs (its PINS), for hosts without a package index."""
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "-w", str(dest),
         *bootstrap.PINS], ROOT, timeout=600)
    return dest


def write_inventory(network: Network, repo: Path, path: Path, profiles: dict[str, str] | None = None) -> Path:
    """An inventory in the shape of ansible/inventory.example.ini, for the hosts of `network`; `profiles`
    gives a host a variant of its role's profile (sitestack_profile)."""
    profiles = profiles or {}

    def host_line(h: Host) -> str:
        profile = f" sitestack_profile={profiles[h.name]}" if h.name in profiles else ""
        return (f"{h.name} ansible_host={h.address} private_address={h.address} sitestack_dir={h.site} "
                f"crontab_file={h.crontab}{profile}")

    lines = []
    for role in ("db", "app", "front"):
        lines.append(f"[{role}]")
        lines += [host_line(h) for h in network.hosts if h.role == role]
        lines.append("")
    lines += ["[all:vars]", "ansible_user=root", "ansible_python_interpreter=/usr/bin/python3",
              f"ansible_ssh_private_key_file={network.key}", f"sitestack_repo={repo}", "sitestack_version=main"]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_extra_vars(path: Path, wheels: Path, eggs: Path) -> Path:
    """What only the test hosts need: packages without an index, shared eggs, crontab files."""
    crontab = {"read-command": "cat {{ crontab_file }}", "write-command": "sh -c 'cat > {{ crontab_file }}'"}
    path.write_text(json.dumps({
        "sitestack_environment": {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)},
        "sitestack_buildout": {"buildout": {"eggs-directory": str(eggs)}, "crontab": crontab, "backup": crontab},
    }, indent=2))
    return path


@dataclass(frozen=True)
class PlaybookRun:
    """One ansible-playbook run: its output and each host's PLAY RECAP counts."""

    output: str
    recap: dict[str, dict[str, int]]

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}


def playbook(network: Network, name: str, inventory: Path, extra_vars: Path, *more: str,
             timeout: float = 600) -> PlaybookRun:
    """ansible-playbook from this (the root) namespace, over ssh to the hosts; fails on a failed host."""
    home = network.top / "ansible-home"
    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
           "ANSIBLE_REMOTE_TEMP": str(network.top / "ansible-remote-tmp"),
           # one ssh connection per host, kept for the next task (closed by tests/e2e/hosts.py)
           "ANSIBLE_SSH_ARGS": " ".join([*network.ssh_options(master=True)]),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(network.control_dir), "ANSIBLE_PIPELINING": "true",
           "ANSIBLE_HOST_KEY_CHECKING": "true", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "false"}
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "-e", f"@{extra_vars}", *more, str(PLAYBOOKS / name)]
    result = subprocess.run(command, cwd=network.top, env=env, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    recap = {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
             for m in RECAP.finditer(result.stdout)}
    if result.returncode != 0 or not recap:
        raise AssertionError(f"ansible-playbook {name} exited {result.returncode}\n{output[-8000:]}")
    return PlaybookRun(output, recap)

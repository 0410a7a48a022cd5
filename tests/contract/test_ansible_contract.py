"""The Ansible playbooks load in Ansible itself: --syntax-check with the example inventory, whose groups
are the three roles, and the ansible-core that runs them is the pinned one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import ROOT

BIN = Path(sys.executable).parent
INVENTORY = ROOT / "ansible" / "inventory.example.ini"


def ansible(tool: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, timeout=120, env=env,
                          cwd=home, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("playbook", ["site.yml", "rolling.yml"])
def test_playbook_syntax(playbook: str, tmp_path: Path) -> None:
    result = ansible("ansible-playbook", "-i", str(INVENTORY), "--syntax-check", str(ROOT / "ansible" / playbook),
                     home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_example_inventory_has_the_three_roles(tmp_path: Path) -> None:
    result = ansible("ansible-inventory", "-i", str(INVENTORY), "--list", home=tmp_path)
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    assert {role: groups[role]["hosts"] for role in ("db", "app", "front")} == \
        {"db": ["db1"], "app": ["app1", "app2"], "front": ["front1"]}
    addresses = {name: v["private_address"] for name, v in groups["_meta"]["hostvars"].items()}
    assert len(set(addresses.values())) == 4, addresses


def test_ansible_core_is_the_pinned_one(tmp_path: Path) -> None:
    pins = dict(line.split("==") for line in (ROOT / "ansible" / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    result = ansible("ansible-playbook", "--version", home=tmp_path)
    assert f"core {pins['ansible-core']}]" in result.stdout, result.stdout


def run_role_checks(tmp_path: Path, host_vars: str) -> subprocess.CompletedProcess[str]:
    """The role's own first tasks (build.yml up to the checkout: the role, the profile and their checks)
    on a front host, run locally by ansible-playbook with the role's defaults."""
    tasks = yaml.safe_load((ROOT / "ansible" / "roles" / "sitestack" / "tasks" / "build.yml").read_text())
    first = tasks[:next(i for i, task in enumerate(tasks) if "ansible.builtin.git" in task)]
    (tmp_path / "checks.yml").write_text(yaml.safe_dump(first))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "all", "gather_facts": False,
        "vars_files": [str(ROOT / "ansible" / "roles" / "sitestack" / "defaults" / "main.yml")],
        "tasks": [{"ansible.builtin.import_tasks": "checks.yml"},
                  {"ansible.builtin.debug": {"msg": "profile={{ sitestack_profile }}"}}]}]))
    (tmp_path / "inventory.ini").write_text(
        f"[front]\nfront1 ansible_connection=local private_address=10.77.0.4 {host_vars}\n")
    return ansible("ansible-playbook", "-i", str(tmp_path / "inventory.ini"), "-e", "sitestack_repo=/nowhere",
                   str(tmp_path / "play.yml"), home=tmp_path)


@pytest.mark.parametrize(("host_vars", "profile"), [("", "front"), ("sitestack_profile=front-edge", "front-edge")])
def test_a_host_extends_its_roles_profile_or_a_variant_of_it(tmp_path: Path, host_vars: str, profile: str) -> None:
    result = run_role_checks(tmp_path, host_vars)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"msg": "profile={profile}"' in result.stdout, result.stdout


@pytest.mark.parametrize("profile", ["edge", "app-edge", "front;rm"])
def test_a_profile_of_another_role_is_refused_before_anything_is_checked_out(tmp_path: Path, profile: str) -> None:
    result = run_role_checks(tmp_path, f"sitestack_profile={profile}")
    assert result.returncode != 0, result.stdout
    assert (f"front1: sitestack_profile must be front or a variant of it such as front-edge (got {profile})"
            in result.stdout), result.stdout

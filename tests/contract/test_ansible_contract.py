"""The Ansible playbooks load in Ansible itself: --syntax-check with the example inventory, whose groups
are the three roles, and the ansible-core that runs them is the pinned one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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

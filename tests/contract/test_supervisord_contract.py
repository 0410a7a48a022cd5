"""Every supervisord.conf the supervisor part writes loads in supervisor's own parser as intended."""
import dataclasses
import io
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from sitestack.recipes import supervisor as supervisor_recipe
from sitestack.recipes.supervisor import Recipe, render_supervisord_conf
from sitestack.recipes.supervisor_build import with_listener_credentials
from support import check_golden
from published_stack import stack_buildout
from reference_buildout import REFERENCE


def rendered(buildout, root: Path) -> str:
    recipe = Recipe(buildout, "supervisor", buildout["supervisor"])
    config = recipe.config
    if config.control and not config.control.password:
        config = dataclasses.replace(config, control=dataclasses.replace(config.control, password="GENERATED"))
    return render_supervisord_conf("supervisor", str(root), with_listener_credentials(config))


def load(text: str, root: Path):
    for directory in ("var/log", "var"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    options = ServerOptions()
    options.configfile = str(root / "parts" / "supervisor" / "supervisord.conf")
    return options.read_config(io.StringIO(text))


def groups_of(section):
    return {
        g.name: (type(g).__name__, g.priority, [(p.name, p.priority) for p in g.process_configs])
        for g in section.process_group_configs
    }


VARIANTS = {
    "stack": dict(programs="zeoserver clients front"),
    "stack-inet": dict(programs="zeoserver clients front", port="9001", password="pw"),
    "stack-mixed-lines": dict(programs="zeoserver clients\n50 worker (startsecs=5 autorestart=unexpected) /srv/bin/worker [-v] /srv/work true"),
    "reference": {k: v for k, v in REFERENCE.items()},
    "pool": dict(programs="10 worker (numprocs=3 process_name=%(program_name)s_%(process_num)02d) /srv/bin/worker"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_supervisor_parser_accepts(variant, tmp_path):
    text = rendered(stack_buildout(tmp_path, **VARIANTS[variant]), tmp_path)
    section = load(text, tmp_path)
    assert section.process_group_configs
    assert section.server_configs[0]["username"] == (VARIANTS[variant].get("user") or "sitestack")


def test_default_stack_groups_priorities_programs(tmp_path):
    section = load(rendered(stack_buildout(tmp_path, programs="zeoserver clients front"), tmp_path), tmp_path)
    assert groups_of(section) == {
        "zeo-cluster": ("ProcessGroupConfig", 10, [("zeoserver", 10)]),
        "zeo-clients": ("ProcessGroupConfig", 20, [("client1", 20), ("client2", 20)]),
        "front": ("ProcessGroupConfig", 30, [("haproxy", 30), ("varnish", 40)]),
        "watchdog": ("EventListenerPoolConfig", -1, [("watchdog", 999)]),
    }
    server = section.server_configs[0]
    assert (server["section"], server["file"], server["chmod"]) == (
        "unix_http_server", f"{tmp_path}/var/supervisor.sock", 0o700)


def test_pool_expands_process_names(tmp_path):
    section = load(rendered(stack_buildout(tmp_path, **VARIANTS["pool"]), tmp_path), tmp_path)
    assert groups_of(section)["worker"][2] == [("worker_00", 10), ("worker_01", 10), ("worker_02", 10)]


def test_golden_default_stack(monkeypatch):
    monkeypatch.setattr(supervisor_recipe, "running_as_root", lambda: True)
    root = Path("/srv/site")
    check_golden("supervisord.conf", rendered(stack_buildout(root, programs="zeoserver clients front"), root))

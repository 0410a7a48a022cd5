"""An existing Plone buildout moves over by changing only its recipe line.

The reference lines are run through the real collective.recipe.supervisor and through sitestack;
both results are loaded by supervisor's own parser and must describe the same programs,
commands, directories, priorities, groups and listeners.
"""
import io

import pytest
from supervisor.options import ServerOptions

import collective.recipe.supervisor as crs
from buildout_harness import install, site_buildout
from sitestack.recipes.supervisor import Recipe
from reference_buildout import BIN, REFERENCE
from sitestack.recipes.address import Address

def parsed(text, path):
    options = ServerOptions()
    options.configfile = str(path)
    root = options.read_config(io.StringIO(text))
    programs = {}
    groups = {}
    listeners = {}
    for group in root.process_group_configs:
        kind = type(group).__name__
        for process in group.process_configs:
            entry = (process.command, process.directory, process.priority, process.redirect_stderr, process.uid)
            if kind == "EventListenerPoolConfig":
                listeners[process.name] = (process.command, sorted(str(e) for e in group.pool_events))
            else:
                programs[process.name] = entry
        if kind == "ProcessGroupConfig" and (len(group.process_configs) != 1 or group.name != group.process_configs[0].name):
            groups[group.name] = (group.priority, sorted(p.name for p in group.process_configs))
    return programs, groups, listeners


@pytest.fixture
def crs_conf(tmp_path, monkeypatch):
    monkeypatch.setattr(crs.Recipe, "_install_scripts", lambda self: [])
    (tmp_path / "crs").mkdir()  # the directory of its buildout.cfg
    buildout = site_buildout(tmp_path / "crs", supervisor=dict(REFERENCE))
    recipe = crs.Recipe(buildout, "supervisor", buildout["supervisor"])
    install(recipe)
    path = tmp_path / "crs" / "parts" / "supervisor" / "supervisord.conf"
    return path.read_text(), path


def test_reference_buildout_gives_what_collective_recipe_supervisor_gives(tmp_path, crs_conf):
    buildout = site_buildout(tmp_path / "ours", supervisor=dict(REFERENCE, recipe="sitestack:supervisor"))
    recipe = Recipe(buildout, "supervisor", buildout["supervisor"])
    from sitestack.recipes.supervisor import render_supervisord_conf

    ours = render_supervisord_conf("supervisor", str(tmp_path), recipe.config)
    (tmp_path / "ours" / "var" / "log").mkdir(parents=True)
    theirs_text, theirs_path = crs_conf
    expected = parsed(theirs_text, theirs_path)
    got = parsed(ours, tmp_path / "supervisord.conf")
    assert got == expected
    programs, groups, listeners = got
    assert sorted(programs) == ["client1", "client2", "haproxy", "zeoserver"]
    assert groups == {"zeo-clients": (20, ["client1", "client2"])}
    assert listeners["MemoryMonitor"][0] == f"{BIN}/memmon -g zeo-clients=800MB -m admin@example.com"


def test_bare_port_binds_loopback_not_every_interface(tmp_path):
    buildout = site_buildout(tmp_path, supervisor=dict(REFERENCE, recipe="sitestack:supervisor"))
    recipe = Recipe(buildout, "supervisor", buildout["supervisor"])
    assert recipe.config.control.port == Address("127.0.0.1", 9001)

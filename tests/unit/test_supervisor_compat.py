"""An existing Plone buildout moves over by changing only its recipe line.

The reference lines are run through the real collective.recipe.supervisor and through sitestack;
both results are loaded by supervisor's own parser and must describe the same programs,
commands, directories, priorities, groups and listeners.
"""
import io

import pytest
from supervisor.options import ServerOptions

import collective.recipe.supervisor as crs
from fakebuildout import fake_buildout
from recipes.supervisor import Recipe

BIN = "/srv/plone/bin"
REFERENCE = {
    "programs": f"""
        10 zeoserver {BIN}/zeoserver [foreground] /srv/plone/parts/zeoserver true
        20 client1 {BIN}/client1 [console] /srv/plone/parts/client1 true
        20 client2 {BIN}/client2 [console] /srv/plone/parts/client2 true
        30 haproxy {BIN}/haproxy [-f /srv/plone/parts/haproxy-config/haproxy.conf -db] true
        """,
    "eventlisteners": f"""
        MemoryMonitor TICK_60 {BIN}/memmon [-g zeo-clients=800MB -m admin@example.com]
        HttpOk1 TICK_60 {BIN}/httpok [-p client1 -t 20 http://127.0.0.1:8081/]
        HttpOk2 TICK_60 {BIN}/httpok [-p client2 -t 20 http://127.0.0.1:8082/]
        """,
    "groups": """
        20 zeo-clients client1,client2
        """,
    "plugins": "superlance",
    "port": "9001",
    "user": "admin",
    "password": "s3cret-for-this-test",
}
# buildout hands a recipe multi-line values with each line's indentation removed
REFERENCE = {key: "\n".join(line.strip() for line in value.splitlines()) for key, value in REFERENCE.items()}


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
    buildout = fake_buildout(tmp_path / "crs", supervisor=dict(REFERENCE))
    recipe = crs.Recipe(buildout, "supervisor", buildout["supervisor"])
    recipe.install()
    path = tmp_path / "crs" / "parts" / "supervisor" / "supervisord.conf"
    return path.read_text(), path


def test_reference_buildout_gives_what_collective_recipe_supervisor_gives(tmp_path, crs_conf):
    buildout = fake_buildout(tmp_path / "ours", supervisor=dict(REFERENCE, recipe="sitestack:supervisor"))
    recipe = Recipe(buildout, "supervisor", buildout["supervisor"])
    from recipes.supervisor import render_supervisord_conf

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
    buildout = fake_buildout(tmp_path, supervisor=dict(REFERENCE, recipe="sitestack:supervisor"))
    recipe = Recipe(buildout, "supervisor", buildout["supervisor"])
    assert recipe.config.control.port == "127.0.0.1:9001"

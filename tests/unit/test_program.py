"""sitestack:program, :eventlistener, :group and :worker parts, and the supervisor part's conf.d mode:
options in, supervisord.conf out, loaded by supervisor's own parser."""
from __future__ import annotations

import io
import json

import pytest
import zc.buildout
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from buildout_harness import site_buildout
from published_stack import stack_buildout, watchdog_of
from sitestack.recipes.program import EventListener, Group, Program
from sitestack.recipes.program_worker import Recipe as Worker
from sitestack.recipes.supervisor import Recipe as Supervisor
from sitestack.recipes.supervisor import render_supervisord_conf

LARAVEL = {
    "command": "php /srv/app/artisan queue:work --sleep=3 --tries=3 --max-time=3600",
    "process_name": "%(program_name)s_%(process_num)02d", "numprocs": "6", "autorestart": "true",
    "stopwaitsecs": "3600", "user": "www-data", "redirect_stderr": "true", "stopasgroup": "true",
    "killasgroup": "true",
}


def parsed(text, tmp_path):
    """supervisord's own reading of a config: {group: [process names]} and the process configs by name."""
    (tmp_path / "var" / "log").mkdir(parents=True, exist_ok=True)
    options = ServerOptions()
    options.configfile = io.StringIO(text)
    section = options.read_config(io.StringIO(text))
    groups = {g.name: [p.name for p in g.process_configs] for g in section.process_group_configs}
    processes = {p.name: p for g in section.process_group_configs for p in g.process_configs}
    return groups, processes


def site(tmp_path, parts: dict[str, tuple[type, dict]], **supervisor):
    buildout = stack_buildout(tmp_path, **supervisor)
    for name, (recipe, options) in parts.items():
        buildout[name] = options
        recipe(buildout, name, buildout[name])
    return buildout


def conf(buildout):
    recipe = Supervisor(buildout, "supervisor", buildout["supervisor"])
    return recipe, render_supervisord_conf("supervisor", str(buildout["buildout"]["directory"]), recipe.config)


def test_every_program_option_reaches_supervisor(tmp_path):
    options = dict(LARAVEL, numprocs_start="1", directory="/srv/app", umask="027", priority="60",
                   autostart="false", startsecs="2", startretries="4", exitcodes="0,2", stopsignal="QUIT",
                   stdout_logfile=str(tmp_path / "var" / "log" / "laravel.log"), stdout_logfile_maxbytes="5MB",
                   stdout_logfile_backups="3", stdout_capture_maxbytes="1MB", stdout_events_enabled="true",
                   stderr_logfile=str(tmp_path / "var" / "log" / "laravel.err"), stderr_logfile_maxbytes="1MB",
                   stderr_logfile_backups="2", stderr_capture_maxbytes="1KB", stderr_events_enabled="false",
                   environment='APP_ENV="production",QUEUE="default"', serverurl="AUTO")
    options["redirect_stderr"] = "false"
    buildout = site(tmp_path, {"laravel": (Program, options)}, programs="laravel")
    groups, processes = parsed(conf(buildout)[1], tmp_path)
    assert groups["laravel"] == [f"laravel_{n:02d}" for n in range(1, 7)], groups
    p = processes["laravel_03"]
    assert (p.command, p.directory, p.umask, p.priority, p.autostart, p.startsecs, p.startretries) == (
        LARAVEL["command"], "/srv/app", 0o027, 60, False, 2, 4)
    assert (p.exitcodes, p.stopsignal, p.stopwaitsecs, p.stopasgroup, p.killasgroup, p.uid is not None) == (
        [0, 2], 3, 3600, True, True, True)
    assert (p.redirect_stderr, p.stdout_logfile, p.stdout_logfile_maxbytes, p.stdout_logfile_backups) == (
        False, str(tmp_path / "var" / "log" / "laravel.log"), 5 * 1024**2, 3)
    assert (p.stdout_capture_maxbytes, p.stdout_events_enabled, p.stderr_capture_maxbytes) == (1024**2, True, 1024)
    assert (p.stderr_logfile, p.stderr_logfile_backups, p.serverurl) == (
        str(tmp_path / "var" / "log" / "laravel.err"), 2, None)  # AUTO: supervisor computes it
    assert p.environment == {"APP_ENV": "production", "QUEUE": "default"}


def test_percent_in_a_command_is_escaped_but_expansions_are_kept(tmp_path):
    gearman = {"command": "/srv/bin/gearman-worker --load 100% --id %(process_num)d",
               "process_name": "gw%(process_num)02d", "numprocs": "3", "numprocs_start": "1",
               "directory": "/var/spool/gearman/%(process_num)02d"}
    groups, processes = parsed(conf(site(tmp_path, {"gearman": (Program, gearman)}, programs="gearman"))[1], tmp_path)
    assert groups["gearman"] == ["gw01", "gw02", "gw03"]
    assert processes["gw02"].command == "/srv/bin/gearman-worker --load 100% --id 2"
    assert processes["gw02"].directory == "/var/spool/gearman/02"
    # each process of a pool logs to its own file
    assert processes["gw02"].stdout_logfile == str(tmp_path / "var" / "log" / "gearman_02.log")


def test_listener_and_group_parts(tmp_path):
    parts = {
        "consumer": (Program, {"command": "/srv/bin/consume events", "numprocs": "2",
                               "process_name": "%(program_name)s_%(process_num)s"}),
        "mailer": (Program, {"command": "/srv/bin/mailer"}),
        "async": (Group, {"programs": "consumer mailer", "priority": "50"}),
        "crashmail": (EventListener, {"command": "/srv/bin/crashmail -a -m ops@example.com",
                                      "events": "PROCESS_STATE_EXITED", "buffer_size": "50",
                                      "result_handler": "supervisor.dispatchers:default_handler"}),
    }
    groups, processes = parsed(conf(site(tmp_path, parts, programs="consumer mailer async crashmail"))[1], tmp_path)
    assert groups["async"] == ["consumer_0", "consumer_1", "mailer"] and "consumer" not in groups
    assert groups["crashmail"] == ["crashmail"]


@pytest.mark.parametrize("parts, message", [
    ({"w": (Program, {"command": "/srv/bin/w", "numprocs": "4"})},
     "[w] process_name: numprocs > 1 needs %(process_num)s (or %(process_num)02d) in process_name, so each "
     "process has its own name"),
    ({"w": (Program, {"command": "/srv/bin/w", "process-name": "w_%(process_num)s"})},
     "[w] process-name: unknown option; did you mean 'process_name'? (got 'w_%(process_num)s')"),
    ({"w": (Program, {"command": "/srv/bin/w", "autorestart": "sometimes"})},
     "[w] autorestart: expected true, false or unexpected (got 'sometimes')"),
    ({"w": (Program, {"command": "/srv/bin/w", "exitcodes": "0,256"})},
     "[w] exitcodes: expected exit codes such as 0,2 (got '0,256')"),
    ({"w": (Program, {"command": "/srv/bin/w", "stopsignal": "STOP"})},
     "[w] stopsignal: expected a signal name: TERM, HUP, INT, QUIT, KILL, USR1, USR2 (got 'STOP')"),
    ({"w": (Program, {"autostart": "true"})}, "[w] command: is required"),
    ({"w": (Program, {"command": "/srv/bin/w ; rm -rf /"})},
     "[w] command: a ';' or '#' after a space starts a comment in supervisor's config (got '/srv/bin/w ; rm -rf /')"),
    ({"l": (EventListener, {"command": "/srv/bin/l", "events": "tick"})},
     "[l] events: expected event names such as TICK_60,PROCESS_STATE (got 'tick')"),
    ({"l": (EventListener, {"command": "/srv/bin/l", "events": "TICK_5", "redirect_stderr": "true"})},
     "[l] redirect_stderr: unknown option (got 'true')"),
    ({"g": (Group, {"priority": "5"})}, "[g] programs: is required"),
    ({"worker": (Worker, {"zeo-address": "127.0.0.1:8100", "max-jobs": "many"})},
     "[worker] max-jobs: expected a whole number (got 'many')"),
    ({"worker": (Worker, {})}, "[worker] zeo-address: is required"),
])
def test_bad_options(tmp_path, parts, message):
    with pytest.raises(zc.buildout.UserError) as error:
        site(tmp_path, parts)
    assert str(error.value) == message


def test_worker_pool_part(tmp_path):
    buildout = site(tmp_path, {"worker": (Worker, {"zeo-address": "127.0.0.1:8100", "numprocs": "2",
                                                   "time-limit": "600", "max-jobs": "50"})},
                    programs="zeoserver clients worker")
    recipe, text = conf(buildout)
    groups, processes = parsed(text, tmp_path)
    assert groups["workers"] == ["worker_00", "worker_01"]
    worker = processes["worker_01"]
    assert (worker.command, worker.priority, worker.exitcodes, worker.autorestart) == (
        str(tmp_path / "bin" / "worker"), 25, [0], RestartUnconditionally)
    assert "memmon -g zeo-clients=800MB -g workers=300MB ::" in watchdog_of(recipe)[1]
    alone = site_buildout(tmp_path, worker={"zeo-address": "127.0.0.1:8100", "time-limit": "600"})
    arguments = Worker(alone, "worker", alone["worker"]).arguments
    assert arguments[arguments.index("--time-limit") + 1] == "600"
    assert arguments[arguments.index("--min-runtime") + 1] == "2"
    # bin/sitestack status sees each process of the pool
    from sitestack.recipes.supervisor import site_description
    names = [(p["group"], p["name"]) for p in json.loads(site_description(tmp_path, tmp_path, recipe.config, None))["programs"]]
    assert ("workers", "worker_00") in names and ("workers", "worker_01") in names


def test_confd_mode_writes_an_include_fragment(tmp_path):
    buildout = stack_buildout(tmp_path, programs="zeoserver clients", mode="conf.d",
                              **{"system-conf": str(tmp_path / "system.conf")})
    recipe, text = conf(buildout)
    assert recipe.conf == tmp_path / "parts" / "supervisor" / "supervisor.conf"
    for section in ("[supervisord]", "[unix_http_server]", "[supervisorctl]", "[rpcinterface:supervisor]"):
        assert section not in text
    fragment = tmp_path / "supervisor.conf"
    fragment.write_text(text)
    main = (f"[supervisord]\nlogfile = {tmp_path}/s.log\npidfile = {tmp_path}/s.pid\n"
            f"[include]\nfiles = {fragment}\n")
    (tmp_path / "var" / "log").mkdir(parents=True)
    options = ServerOptions()
    section = options.read_config(io.StringIO(main))
    assert {g.name for g in section.process_group_configs} >= {"zeo-cluster", "zeo-clients"}


@pytest.mark.parametrize("options, message", [
    (dict(mode="confd"), "[supervisor] mode: expected supervisord (bin/supervisord runs the site) or conf.d "
                         "(a file for an existing supervisord's include directory) (got 'confd')"),
    (dict(mode="conf.d", sections="global services"),
     "[supervisor] sections: mode = conf.d writes programs, groups and listeners only; leave it out "
     "(got 'global services')"),
])
def test_bad_mode(tmp_path, options, message):
    with pytest.raises(zc.buildout.UserError) as error:
        conf(stack_buildout(tmp_path, programs="zeoserver", **options))
    assert str(error.value) == message


def test_program_part_publishes_nothing_else_for_old_parts(tmp_path):
    """Parts that set no supervisor settings publish exactly what they did before (no -settings/-kind)."""
    options = stack_buildout(tmp_path)["clients"]
    assert not [k for k in options if k.endswith(("-settings", "-kind", "-events"))]


def test_pools_with_their_own_quota_in_a_shared_group(tmp_path):
    parts = {
        "worker": (Worker, {"zeo-address": "127.0.0.1:8100", "numprocs": "2"}),
        "symfony": (Program, {"command": "php bin/console messenger:consume async --time-limit=3600",
                              "process_name": "%(program_name)s_%(process_num)02d", "numprocs": "2",
                              "group": "workers", "memory-quota": "256MB"}),
        "solo": (Program, {"command": "/srv/bin/solo", "numprocs": "2", "memory-quota": "64MB",
                           "process_name": "%(program_name)s%(process_num)d"}),
    }
    recipe, _ = conf(site(tmp_path, parts, programs="worker symfony solo"))
    rules = watchdog_of(recipe)[1]
    assert ("-p workers:worker_00=300MB -p workers:worker_01=300MB -p workers:symfony_00=256MB "
            "-p workers:symfony_01=256MB -p solo:solo0=64MB -p solo:solo1=64MB") in rules, rules

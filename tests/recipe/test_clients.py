"""The clients part: validation, what it publishes, the bin/clientN it writes, and those scripts running."""
from __future__ import annotations

import ast
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from buildout_harness import error_of, install, run_buildout, site_buildout, unused_options

from sitestack.recipes.clients import Recipe
from support import free_port, free_port_range, http_get, poll_for, tail
from zeo_server import ZeoProcess, stop_child


def recipe(directory: Path, **options: str) -> tuple[Recipe, dict]:
    options.setdefault("zeo-address", "127.0.0.1:8100")
    buildout = site_buildout(directory, clients={"recipe": "sitestack:clients", **options})
    return Recipe(buildout, "clients", buildout["clients"]), buildout["clients"]


def installable(directory: Path) -> Path:
    """The directories buildout itself creates before it installs any part."""
    for name in ("bin", "eggs", "develop-eggs"):
        (directory / name).mkdir(exist_ok=True)
    return directory


def test_defaults_publish_two_clients_for_haproxy_and_supervisor(tmp_path):
    _, options = recipe(tmp_path)
    published = {k: v for k, v in options.items() if k not in ("recipe", "zeo-address")}
    # the application was imported in the clients' environment; the digest of what was tried
    # (application, egg locations, user) lets an unchanged re-run skip it
    assert re.fullmatch(r"[0-9a-f]{16}", published.pop("application-checked"))
    assert published == {
        "servers": "client1=127.0.0.1:8081 client2=127.0.0.1:8082",
        "addresses": "127.0.0.1:8081 127.0.0.1:8082",
        "health-path": "/health",
        "programs": "client1 client2",
        **{f"client{i}-{key}": value for i in (1, 2) for key, value in {
            "command": str(tmp_path / "bin" / f"client{i}"),
            "directory": str(tmp_path / "parts" / "clients" / f"client{i}"),
            "priority": "20",
            "group": "zeo-clients",
            "health-url": f"http://127.0.0.1:808{i}/health",
            "memory-quota": "800MB",
            "address": f"127.0.0.1:808{i}",
            "user": "",
            "stopsignal": "TERM",
            "stopwaitsecs": "20",
            "startsecs": "3",
            "environment": "",
            "watchdog": "true",
            "start-timeout": "300",
        }.items()},
    }


def test_every_option_is_honoured(tmp_path):
    _, options = recipe(
        tmp_path, count="3", host="::1", **{"base-port": "9001", "zeo-address": "[::1]:9100",
                                             "health-path": "/ready", "memory-quota": "1GB",
                                             "priority": "25", "group": "apps"},
    )
    assert options["servers"] == "client1=[::1]:9001 client2=[::1]:9002 client3=[::1]:9003"
    assert options["addresses"] == "[::1]:9001 [::1]:9002 [::1]:9003"
    assert options["programs"] == "client1 client2 client3"
    assert options["client3-health-url"] == "http://[::1]:9003/ready"
    assert (options["client3-memory-quota"], options["client3-priority"], options["client3-group"]) == (
        "1GB", "25", "apps")
    assert unused_options(options.buildout, "clients") == []  # buildout would warn about any option left unread


@pytest.mark.parametrize(
    "options, message",
    [
        ({"base-port": "99999"}, "[clients] base-port: expected a TCP port from 1 to 65535 (got '99999')"),
        ({"base-port": "65535", "count": "2"},
         "[clients] base-port: with count = 2 the last client would listen on port 65536; "
         "expected base-port + count - 1 to be at most 65535 (got '65535')"),
        ({"base-port": "8099", "count": "3"},
         "[clients] base-port: client2 would listen on port 8100, the ZEO server's port (got '8099')"),
        ({"count": "0"}, "[clients] count: expected a whole number of at least 1 (got '0')"),
        ({"count": "65"}, "[clients] count: expected a whole number of at most 64 (got '65')"),
        ({"host": "web1"}, "[clients] host: expected an IP address such as 127.0.0.1 (got 'web1')"),
        ({"zeo-address": "8100"},
         "[clients] zeo-address: expected host:port such as 127.0.0.1:8080 (got '8100')"),
        ({"zeo-address": ""}, "[clients] zeo-address: is required"),
        ({"application": "sitestack.demoapp.application"},
         "[clients] application: expected module:callable such as sitestack.demoapp:application (got 'sitestack.demoapp.application')"),
        ({"health-path": "health"}, "[clients] health-path: expected a URL path such as /health (got 'health')"),
        ({"health-path": "/health?full=1"},
         "[clients] health-path: expected a URL path without a query string, such as /health (got '/health?full=1')"),
        ({"threads": "many"}, "[clients] threads: expected a whole number (got 'many')"),
        ({"memory-quota": "800 M"},
         "[clients] memory-quota: expected a size such as 800MB, 1GB or 512KB (got '800 M')"),
        ({"priority": "1000"}, "[clients] priority: expected a priority from 0 to 999 (got '1000')"),
        ({"group": "zeo clients"},
         "[clients] group: expected a name of letters, digits, '_', '.' and '-' (got 'zeo clients')"),
        ({"connect-timeout": "60s"},
         "[clients] connect-timeout: expected a whole number of seconds from 1 to 3600 (got '60s')"),
        ({"eggs": "myapp my;app"},
         "[clients] eggs: expected egg names such as myapp or myapp==1.2; 'my;app' is not one (got 'myapp my;app')"),
        ({"base_port": "8081"},
         "[clients] base_port: unknown option; did you mean 'base-port'? (got '8081')"),
        ({"zeo-adress": "127.0.0.1:8100", "zeo-address": ""},
         "[clients] zeo-adress: unknown option; did you mean 'zeo-address'? (got '127.0.0.1:8100')\n"
         "[clients] zeo-address: is required"),
    ],
)
def test_a_bad_option_is_one_line_naming_section_option_and_value(tmp_path, options, message):
    assert error_of(lambda: recipe(tmp_path, **options)) == message


def test_every_problem_is_reported_at_once_and_nothing_is_written(tmp_path):
    message = error_of(lambda: recipe(tmp_path, count="x", **{"base-port": "0", "memory-quota": "lots"}))
    assert message.splitlines() == [
        "[clients] count: expected a whole number (got 'x')",
        "[clients] base-port: expected a TCP port from 1 to 65535 (got '0')",
        "[clients] memory-quota: expected a size such as 800MB, 1GB or 512KB (got 'lots')",
    ]
    assert list(tmp_path.iterdir()) == []


def script_arguments(script: Path) -> list[str]:
    """The argument list a generated bin/clientN prepends to sys.argv."""
    lines = [line for line in script.read_text().splitlines() if line.startswith("sys.argv[1:1] = ")]
    assert len(lines) == 1, script.read_text()
    return ast.literal_eval(lines[0].removeprefix("sys.argv[1:1] = "))


def test_install_writes_one_script_per_client_and_their_directories(tmp_path):
    clients, _ = recipe(installable(tmp_path), count="2", application="sitestack.demoapp.app:application", threads="8",
                        **{"connect-timeout": "30"})
    installed = install(clients)
    assert installed == [str(tmp_path / "parts" / "clients"), str(tmp_path / "bin" / "client1"),
                         str(tmp_path / "bin" / "client2")]
    for i in (1, 2):
        script = tmp_path / "bin" / f"client{i}"
        assert script.stat().st_mode & stat.S_IXUSR
        assert script.read_text().startswith(f"#!{sys.executable}\n")
        assert script.read_text().endswith("import sitestack.appserver\n\nif __name__ == '__main__':\n"
                                           "    sys.exit(sitestack.appserver.main())\n")
        blob_cache = tmp_path / "var" / "blobcache" / f"client{i}"
        assert script_arguments(script) == [
            "--name", f"client{i}", "--listen", f"127.0.0.1:808{i}", "--zeo", "127.0.0.1:8100",
            "--blob-cache", str(blob_cache), "--app", "sitestack.demoapp.app:application", "--threads", "8",
            "--health-path", "/health", "--connect-timeout", "30",
        ]
        assert stat.S_IMODE(blob_cache.stat().st_mode) == 0o700
        assert (tmp_path / "parts" / "clients" / f"client{i}").is_dir()


def test_a_second_install_without_change_rewrites_nothing(tmp_path):
    install(recipe(installable(tmp_path))[0])
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "bin").iterdir()}
    time.sleep(0.01)
    install(recipe(tmp_path)[0])
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "bin").iterdir()} == before


def test_the_generated_scripts_serve_the_app_from_one_zeo_server(tmp_path):
    zeo, processes = ZeoProcess(tmp_path), []
    try:
        zeo.start()
        clients, options = recipe(installable(tmp_path), **{"base-port": str(free_port_range(2)),
                                                            "zeo-address": zeo.address})
        install(clients)
        for name in options["programs"].split():
            with open(tmp_path / f"{name}.log", "wb") as log:
                processes.append(subprocess.Popen([options[f"{name}-command"]], stdout=log, stderr=subprocess.STDOUT,
                                                  cwd=options[f"{name}-directory"], stdin=subprocess.DEVNULL))
        for name in options["programs"].split():
            url, log = options[f"{name}-health-url"], tmp_path / f"{name}.log"
            poll_for(lambda url=url: http_get(url, timeout=2)[0] == 200, 30, f"{name} healthy",
                     lambda log=log: tail(log))
            status, _, headers = http_get(f"http://{options[f'{name}-address']}/")
            assert (status, headers["X-Served-By"]) == (200, name)
    finally:
        for process in processes:
            stop_child(process)
        zeo.stop()
    assert [p.returncode for p in processes] == [0, 0]


def test_a_real_buildout_run_installs_the_clients_or_names_the_mistake(tmp_path):
    config = ("[buildout]\nparts = clients\noffline = true\n\n[clients]\nrecipe = sitestack:clients\n"
              "zeo-address = 127.0.0.1:{port}\ncount = {count}\nbase-port = 65534\n")
    bad = run_buildout(tmp_path, config.format(port=free_port(), count=3))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert ("Error: [clients] base-port: with count = 3 the last client would listen on port 65536; "
            "expected base-port + count - 1 to be at most 65535 (got '65534')") in bad.stderr + bad.stdout
    assert not (tmp_path / "bin" / "client1").exists()
    good = run_buildout(tmp_path, config.format(port=free_port(), count=2))
    assert good.returncode == 0, good.stdout + good.stderr
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["client1", "client2"]

"""bin/buildout's own checks (sitestack.recipes.command, sitestack.recipes.config_file) and bootstrap.py's interpreter check."""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import zc.buildout

from sitestack.recipes.command import check_directories
from sitestack.recipes.config_file import check_config_file, config_file_name
from support import ROOT


def buildout(site: str, **options: str) -> dict[str, dict[str, str]]:
    return {"buildout": {"directory": site, "bin-directory": f"{site}/bin", "parts-directory": f"{site}/parts",
                         **options}}


def test_a_site_directory_too_long_for_its_sockets_is_refused():
    check_directories(buildout("/srv/" + "s" * 70))
    directory = "/srv/" + "s" * 90
    with pytest.raises(zc.buildout.UserError) as error:
        check_directories(buildout(directory))
    assert str(error.value) == (f"[buildout] directory: {directory}/var/haproxy/admin.sock would be 118 bytes, "
                                f"over the 107 a unix socket path may have; build the site in a shorter path "
                                f"(got {directory!r})")


@pytest.mark.parametrize("option, value", [("directory", "/srv/my site"), ("eggs-directory", "/srv/égg")])
def test_a_path_with_a_space_or_non_ascii_is_refused(option, value):
    with pytest.raises(zc.buildout.UserError, match=rf"^\[buildout\] {option}: .* \(got {value!r}\)$"):
        check_directories(buildout("/srv/site", **{option: value}))


@pytest.mark.parametrize("data, expected", [
    (b"[buildout]\nextends = base.cfg\n", None),
    (b"\xef\xbb\xbf[buildout]\n", "buildout.cfg: line 1: starts with a UTF-8 byte order mark"),
    (b"[buildout]\r\nextends = base.cfg\r\n", "[buildout] extends: line 2 of buildout.cfg ends with CR LF"),
    (b"[site]\nclients = 2\n\n[site]\nclients = 3\n", "[site] clients: set twice in buildout.cfg (line 2: '2', "
                                                         "line 5: '3')"),
    (b"[buildout]\nparts = a\nparts += b\n", None),
    (b"[site]\nclients = \xff\n", "buildout.cfg: line 2: not UTF-8"),
])
def test_config_file_checks(tmp_path, data, expected):
    path = tmp_path / "buildout.cfg"
    path.write_bytes(data)
    if expected is None:
        check_config_file(path)
        return
    with pytest.raises(zc.buildout.UserError) as error:
        check_config_file(path)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value), error.value


def test_config_file_name():
    assert config_file_name([]) == "buildout.cfg"
    assert config_file_name(["-c", "site.cfg", "-N"]) == "site.cfg"
    assert config_file_name(["-csite.cfg"]) == "site.cfg"


def bootstrap():
    spec = importlib.util.spec_from_file_location("bootstrap_under_test", ROOT / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a directory closed to the program users")
def test_bootstrap_sees_an_interpreter_the_program_users_cannot_run():
    module = bootstrap()
    top = Path(tempfile.mkdtemp(prefix="sitestack-home-"))  # pytest's tmp_path is itself private
    try:
        top.chmod(0o755)
        private = top / "home"
        (private / "bin").mkdir(parents=True)
        private.chmod(0o700)
        assert module.blocked([private / "bin" / "python3"])[1] == private
        assert module.blocked([Path("/usr/bin/python3").resolve()]) is None
    finally:
        shutil.rmtree(top)

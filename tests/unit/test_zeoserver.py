"""The ZEO server part: options checked, zeo.conf rendered and accepted by ZEO's own schema."""

import pytest

from buildout_harness import error_of, site_buildout
from sitestack.recipes.zeoserver import Recipe, ZeoServer, render_zeo_conf
from support import check_golden


def test_golden_zeo_conf():
    zeo = ZeoServer("127.0.0.1", 8100, "/srv/site/var/filestorage/Data.fs", "/srv/site/var/blobstorage")
    check_golden("zeo.conf", render_zeo_conf("zeoserver", zeo))


def test_zeo_conf_loads_in_runzeo_schema(tmp_path):
    from ZEO.runzeo import ZEOOptions

    zeo = ZeoServer("127.0.0.1", 8100, str(tmp_path / "Data.fs"), str(tmp_path / "blobs"))
    conf = tmp_path / "zeo.conf"
    conf.write_text(render_zeo_conf("zeoserver", zeo))
    options = ZEOOptions()
    options.realize(["-C", str(conf)])
    assert options.address == ("127.0.0.1", 8100)
    assert options.storages[0].config.path == str(tmp_path / "Data.fs")
    assert options.storages[0].config.blob_dir == str(tmp_path / "blobs")


def test_defaults_publish_address_and_program(tmp_path):
    buildout = site_buildout(tmp_path, zeoserver={"recipe": "sitestack:zeoserver"})
    Recipe(buildout, "zeoserver", buildout["zeoserver"])
    options = buildout["zeoserver"]
    assert options["address"] == "127.0.0.1:8100"
    assert options["command"] == str(tmp_path / "bin" / "zeoserver")
    assert (options["programs"], options["zeoserver-group"], options["zeoserver-priority"]) == (
        "zeoserver", "zeo-cluster", "10")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"port": "81000"}, "[zeoserver] port: expected a TCP port from 1 to 65535 (got '81000')"),
        ({"host": "example.com"}, "[zeoserver] host: expected an IP address such as 127.0.0.1 (got 'example.com')"),
        ({"prot": "8100"}, "[zeoserver] prot: unknown option; did you mean 'port'? (got '8100')"),
        ({"priority": "-1"}, "[zeoserver] priority: expected a priority from 0 to 999 (got '-1')"),
    ],
)
def test_bad_options(tmp_path, options, message):
    buildout = site_buildout(tmp_path, zeoserver=dict(options, recipe="sitestack:zeoserver"))
    assert error_of(lambda: Recipe(buildout, "zeoserver", buildout["zeoserver"])) == message

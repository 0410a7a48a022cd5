"""The ZEO server part: options checked, zeo.conf rendered and accepted by ZEO's own schema."""

from pathlib import Path

import pytest

from buildout_harness import error_of, site_buildout
from sitestack.recipes.zeoserver import Recipe, ZeoServer, render_zeo_conf
from support import check_golden, tail
from zeo_server import ZeoProcess, server_connections


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


@pytest.mark.parametrize(
    "value, message",
    [
        ("1500ms", "[zeoserver] transaction-timeout: expected whole seconds such as 5s or 1m (ZEO counts seconds) "
                   "(got '1500ms')"),
        ("5", "[zeoserver] transaction-timeout: expected a duration such as 500ms, 1s or 2m (got '5')"),
    ],
)
@pytest.mark.parametrize("option", ["transaction-timeout", "dead-client-timeout"])
def test_bad_timeouts(tmp_path, option, value, message):
    message = message.replace("transaction-timeout", option)
    buildout = site_buildout(tmp_path, zeoserver={"recipe": "sitestack:zeoserver", option: value})
    assert error_of(lambda: Recipe(buildout, "zeoserver", buildout["zeoserver"])) == message


def test_transaction_timeout_reaches_zeo_conf(tmp_path):
    from ZEO.runzeo import ZEOOptions

    buildout = site_buildout(tmp_path, zeoserver={"recipe": "sitestack:zeoserver", "transaction-timeout": "1m"})
    recipe = Recipe(buildout, "zeoserver", buildout["zeoserver"])
    Path(recipe.zeo.storage).parent.mkdir(parents=True)
    conf = tmp_path / "zeo.conf"
    conf.write_text(render_zeo_conf("zeoserver", recipe.zeo))
    options = ZEOOptions()
    options.realize(["-C", str(conf)])
    assert options.transaction_timeout == 60


def test_a_client_stuck_holding_the_commit_lock_does_not_stall_other_writers(tmp_path):
    """A client that voted (so holds the storage's commit lock) and then goes silent -- cut off the network,
    or stopped -- is dropped after transaction-timeout; another client's commit then goes through."""
    import threading

    import transaction
    from ZEO.ClientStorage import ClientStorage
    from ZODB import DB
    from ZODB.Connection import TransactionMetaData

    zeo = ZeoProcess(tmp_path, transaction_timeout=1).start()
    stuck = ClientStorage(("127.0.0.1", zeo.port), wait_timeout=10)
    writer = DB(ClientStorage(("127.0.0.1", zeo.port), wait_timeout=10))
    done, errors = threading.Event(), []
    try:
        txn = TransactionMetaData()
        stuck.tpc_begin(txn)
        stuck.store(stuck.new_oid(), b"\0" * 8, b"data", "", txn)
        stuck.tpc_vote(txn)  # the server holds the lock for it from here until its tpc_finish

        def commit() -> None:
            try:
                manager = transaction.TransactionManager()
                connection = writer.open(manager)
                connection.root()["written"] = True
                manager.commit()
                connection.close()
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)
            done.set()

        thread = threading.Thread(target=commit, daemon=True)
        thread.start()
        assert done.wait(20), f"the other writer was still waiting for the commit lock after 20 s:\n{tail(zeo.log)}"
        assert not errors, f"the other writer's commit failed: {errors!r}\n{tail(zeo.log)}"
        assert "Transaction timeout after 1 seconds" in zeo.log.read_text()
    finally:
        writer.close()
        stuck.close()
        zeo.stop()


def test_connections_to_the_server_fail_when_their_client_host_stops_answering(tmp_path):
    """--dead-client-timeout: the server's TCP connections send keepalive probes (ss shows the timer) and
    carry TCP_USER_TIMEOUT, so a cut-off client host's connections fail within that many seconds."""
    import socket

    zeo = ZeoProcess(tmp_path, dead_client_timeout=3).start()
    try:
        with socket.create_connection(("127.0.0.1", zeo.port), timeout=5):
            out = "\n".join(server_connections(zeo.port))
        assert "timer:(keepalive" in out, out
        assert "127.0.0.1:" in out, out
    finally:
        zeo.stop()


def test_dead_client_timeout_argument():
    from sitestack.zeoserver import split_arguments

    assert split_arguments(["-C", "zeo.conf", "--dead-client-timeout", "4"]) == (4, ["-C", "zeo.conf"])
    assert split_arguments(["-C", "zeo.conf"]) == (0, ["-C", "zeo.conf"])
    with pytest.raises(SystemExit, match="expects whole seconds"):
        split_arguments(["--dead-client-timeout", "4s"])

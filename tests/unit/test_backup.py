"""Backups without a server: repozo + blob snapshots of a real FileStorage, retention, the restore plan,
restore and verification; cron schedule gaps; dates."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
import ZODB
from ZODB.blob import Blob
from ZODB.FileStorage import FileStorage
from ZODB.scripts import repozo

from sitestack.backup.config import BackupConfig, decode, encode
from sitestack.backup.points import complete_points, last_transaction, newest_backup
from sitestack.backup.restore import plan, restore_date, verify, write_restored
from sitestack.backup.schedule import longest_gap
from sitestack.backup.take import BackupError, apply_retention, take_backup
from sitestack.recipes.address import Address


@pytest.mark.parametrize("schedules, gap", [
    (["0 3 * * *", "30 * * * *"], 3600),
    (["@daily"], 86400),
    (["@hourly", "@daily"], 3600),
    (["0 4 * * 0"], 7 * 86400),
    (["*/15 * * * *"], 900),
    (["0 9-17 * * mon-fri"], 16 * 3600 + 2 * 86400),  # Friday 17:00 to Monday 09:00
    (["0 0 1,15 * *"], 17 * 86400),  # the 15th to the 1st of a 31-day month
    (["0 0 * * 7"], 7 * 86400),  # 7 is Sunday too
])
def test_longest_gap(schedules, gap):
    assert longest_gap(schedules) == gap


@pytest.mark.parametrize("text, expected", [
    ("2026-12-06", "2026-12-06-00-00-00"),
    ("2026-12-06-03", "2026-12-06-03-00-00"),
    ("2026-12-06-03-20-56", "2026-12-06-03-20-56"),
    ("2026-12-06T03:20:56Z", "2026-12-06-03-20-56"),
    ("2026-12-06 03:20", "2026-12-06-03-20-00"),
])
def test_restore_date(text, expected):
    assert restore_date(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-12-06T25:00", "06.12.2026"])
def test_restore_date_refuses(text):
    with pytest.raises(BackupError, match=r"--date: .*\(got "):
        restore_date(text)


class Data:
    """A FileStorage with blobs, as the ZEO server keeps it, written through a ZODB.DB."""

    def __init__(self, top: Path) -> None:
        (top / "var" / "filestorage").mkdir(parents=True)
        self.config = BackupConfig(
            storage=str(top / "var" / "filestorage" / "Data.fs"), blob_dir=str(top / "var" / "blobstorage"),
            location=str(top / "backups"), keep=2, zeo_address=Address("127.0.0.1", 1), pack_days=7, max_age=3600,
            schedules={"full": "0 3 * * *"}, stop_groups=("zeo-cluster",))
        self.db = ZODB.DB(FileStorage(self.config.storage, blob_dir=self.config.blob_dir))

    def commit(self, **values: object) -> str:
        with self.db.transaction() as conn:
            for key, value in values.items():
                conn.root()[key] = Blob(value) if isinstance(value, bytes) else value
        return self.db.storage.lastTransaction().hex()

    def backup(self, full: bool = False):
        return take_backup(self.config, full, wait=0)


@pytest.fixture
def data(tmp_path, monkeypatch):
    # repozo names its files by the second: a clock that moves a minute per look, instead of sleeping
    clock = iter(range(10**6))
    monkeypatch.setattr(repozo, "gen_filedate", lambda options: time.gmtime(1_900_000_000 + 60 * next(clock))[:6])
    data = Data(tmp_path)
    yield data
    data.db.close()


def read(storage: Path, blob_dir: Path) -> dict[str, object]:
    db = ZODB.DB(FileStorage(str(storage), blob_dir=str(blob_dir), read_only=True))
    try:
        with db.transaction() as conn:
            return {k: (v.open().read() if isinstance(v, Blob) else v) for k, v in conn.root().items()}
    finally:
        db.close()


def test_backup_points_restore_to_each_point(data, tmp_path):
    first_tid = data.commit(a=1, photo=b"one")
    first = data.backup(full=True)
    second_tid = data.commit(b=2, photo=b"two")
    second = data.backup()
    assert (first.kind, first.tid, second.kind, second.tid) == ("full", first_tid, "incremental", second_tid)
    assert newest_backup(data.config.location) == second
    # the second point holds two blob objects: the replaced one is unreferenced until a pack
    for point, expected, blobs in ((first, {"a": 1, "photo": b"one"}, 1),
                                   (second, {"a": 1, "b": 2, "photo": b"two"}, 2)):
        out = tmp_path / f"out-{point.stamp}"
        chosen = plan(data.config, point.stamp)
        write_restored(data.config, chosen, out / "Data.fs", out / "blobs")
        checked = verify(out / "Data.fs", out / "blobs", point.tid)
        assert (checked.tid, checked.blobs) == (point.tid, blobs)
        assert read(out / "Data.fs", out / "blobs") == expected


def test_a_backup_without_changes_is_the_same_point(data):
    data.commit(a=1)
    first = data.backup(full=True)
    assert data.backup() == first
    assert len(complete_points(Path(data.config.location))) == 1


def test_modes_and_links(data):
    data.commit(photo=b"one")
    data.backup(full=True)
    data.commit(other=b"two")
    data.backup()
    location = Path(data.config.location)
    for path in [location, *location.rglob("*")]:
        bits = stat.S_IMODE(path.lstat().st_mode)
        assert bits == (0o700 if path.is_dir() else 0o600), (path, oct(bits))
    snapshots = sorted((location / "blobstorage").iterdir())
    live = {p.stat().st_ino for p in Path(data.config.blob_dir).rglob("*.blob")}
    first = {p.relative_to(snapshots[0]): p.stat().st_ino for p in snapshots[0].rglob("*.blob")}
    second = {p.relative_to(snapshots[1]): p.stat().st_ino for p in snapshots[1].rglob("*.blob")}
    assert len(first) == 1 and len(second) == 2
    assert all(second[name] == inode for name, inode in first.items())  # unchanged blob: hard link
    assert not live & set(second.values())  # never a link to the live blob directory


def test_retention_keeps_n_fulls_with_their_incrementals(data):
    points = []
    for number in range(3):
        data.commit(n=number)
        points.append(data.backup(full=True))
        data.commit(m=number)
        points.append(data.backup())
    left = [p.stamp for p in complete_points(Path(data.config.location))]
    assert left == [p.stamp for p in points[2:]]
    assert sorted(os.listdir(Path(data.config.location) / "blobstorage")) == [
        f"blobstorage.{p.stamp}" for p in points[2:]]
    assert apply_retention(data.config) == []


def test_last_transaction_is_the_storage_one(data):
    tid = data.commit(a=1)
    assert last_transaction(Path(data.config.storage)).hex() == tid


def test_incomplete_sets_are_refused(data):
    data.commit(a=1)
    full = data.backup(full=True)
    data.commit(b=2)
    incremental = data.backup()
    location = Path(data.config.location)
    with pytest.raises(BackupError, match="no backup at or before 2000-01-01"):
        plan(data.config, "2000-01-01-00-00-00")
    (location / "points" / f"{incremental.stamp}.json").rename(location / "record")
    with pytest.raises(BackupError, match=f"incomplete backup set: {incremental.stamp} lacks its record .*"
                                          f"--date {full.stamp}"):
        plan(data.config, incremental.stamp)
    (location / "record").rename(location / "points" / f"{incremental.stamp}.json")
    os.rename(location / "blobstorage" / f"blobstorage.{incremental.stamp}", location / "gone")
    with pytest.raises(BackupError, match="lacks its blob snapshot"):
        plan(data.config, incremental.stamp)
    os.rename(location / "gone", location / "blobstorage" / f"blobstorage.{incremental.stamp}")
    with open(location / "filestorage" / f"{incremental.stamp}.deltafs", "ab") as handle:
        handle.write(b"garbage")
    with pytest.raises(BackupError, match="deltafs is .* bytes, .*dat says"):
        plan(data.config, incremental.stamp)
    (location / "filestorage" / f"{full.stamp}.fs").unlink()
    with pytest.raises(BackupError, match=f"incomplete backup set: no full backup before {incremental.stamp}"):
        plan(data.config, incremental.stamp)


def test_verify_notices_a_missing_blob(data, tmp_path):
    data.commit(photo=b"one")
    point = data.backup(full=True)
    out = tmp_path / "out"
    write_restored(data.config, plan(data.config, point.stamp), out / "Data.fs", out / "blobs")
    for blob in (out / "blobs").rglob("*.blob"):
        blob.unlink()
    with pytest.raises(BackupError, match="lacks the blob of object"):
        verify(out / "Data.fs", out / "blobs", point.tid)
    with pytest.raises(BackupError, match="ends at transaction"):
        verify(out / "Data.fs", out / "blobs", "00" * 8)


def test_a_held_lock_is_refused_with_its_holder(data):
    import zc.lockfile

    data.commit(a=1)
    Path(data.config.location).mkdir()
    lock = zc.lockfile.LockFile(str(data.config.lock))
    try:
        with pytest.raises(BackupError, match=rf"another backup, pack or restore holds .* \(pid {os.getpid()}\)"):
            take_backup(data.config, True, wait=0)
    finally:
        lock.close()


def test_config_round_trip():
    config = BackupConfig("/s/Data.fs", "/s/blobs", "/b", 3, Address("127.0.0.1", 8100), 7, 4500,
                          {"full": "@daily"}, ("zeo-cluster", "workers"))
    assert decode(encode(config)) == config


def test_status_and_check_report_the_newest_backup(data, tmp_path):
    from sitestack.control.backups import check_finding, status_line
    from sitestack.control.site import Site

    config_path = tmp_path / "backup.json"
    config_path.write_text(encode(data.config))
    site = Site(tmp_path, tmp_path / "supervisord.conf", (), extra={"backup": str(config_path)})
    assert check_finding(site) == ("warn", f"backups in {data.config.location}",
                                   "no complete backup yet (bin/backup takes one)")
    data.commit(a=1)
    point = data.backup(full=True)
    taken = point.time.timestamp()
    assert status_line(site, now=taken + 300).startswith(f"backup                       newest {point.stamp} "
                                                         "(full), 5m old, restores ")
    assert check_finding(site, now=taken + 3600)[0] == "ok"
    status, _, detail = check_finding(site, now=taken + 3601 + 3600)
    assert status == "warn" and detail.startswith(f"the newest, {point.stamp}, is 2.0h old; the schedule allows 60m")
    assert status_line(Site(tmp_path, tmp_path, ())) is None and check_finding(Site(tmp_path, tmp_path, ())) is None

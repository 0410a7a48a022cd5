"""What bin/backup and bin/sitestack restore need to know: one typed value, one JSON encode/decode pair."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sitestack.recipes import convert
from sitestack.recipes.address import Address


@dataclass(frozen=True)
class BackupConfig:
    """A site's backup settings as the backup part wrote them (parts/<part>/backup.json)."""

    storage: str  # the live Data.fs
    blob_dir: str  # the live blob directory
    location: str  # where backups go (outside var/)
    keep: int  # full backups kept (with their incrementals and blob snapshots)
    zeo_address: Address  # the running ZEO server (pack); host:port in backup.json
    pack_days: int  # a pack keeps this many days of history
    max_age: int  # seconds: an older newest backup is late (bin/sitestack check)
    schedules: dict[str, str] = field(default_factory=dict)  # full / incremental / pack -> cron times
    stop_groups: tuple[str, ...] = ()  # supervisor groups that use the storage (restore stops them)

    @property
    def repository(self) -> Path:
        return Path(self.location) / "filestorage"

    @property
    def blob_backups(self) -> Path:
        return Path(self.location) / "blobstorage"

    @property
    def points(self) -> Path:
        return Path(self.location) / "points"

    @property
    def lock(self) -> Path:
        return Path(self.location) / "backup.lock"


def encode(config: BackupConfig) -> str:
    data = asdict(config)
    data["stop_groups"] = list(config.stop_groups)
    data["zeo_address"] = str(config.zeo_address)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def decode(text: str) -> BackupConfig:
    data = json.loads(text)
    data["stop_groups"] = tuple(data.get("stop_groups", ()))
    data["zeo_address"] = convert.address(data["zeo_address"])
    return BackupConfig(**data)


def load(path: str | Path) -> BackupConfig:
    return decode(Path(path).read_text(encoding="utf-8"))

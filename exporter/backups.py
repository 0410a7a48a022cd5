"""The site's backups as metrics: the newest complete point, its age limit, how many points there are."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

from sitestack.backup.points import complete_points
from sitestack.control.restore import backup_config
from sitestack.control.site import Site


class BackupCollector:
    """Reads the backup location on each scrape (a directory listing and small JSON records)."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        config = backup_config(self.site)
        if config is None:
            return
        points = complete_points(Path(config.location))
        count = GaugeMetricFamily("sitestack_backup_points", "complete backup points kept")
        count.add_metric([], len(points))
        allowed = GaugeMetricFamily("sitestack_backup_max_age_seconds",
                                    "age the newest backup may reach before bin/sitestack check warns")
        allowed.add_metric([], config.max_age)
        yield from (count, allowed)
        if not points:
            return
        newest = points[-1]
        stamp = GaugeMetricFamily("sitestack_backup_newest_timestamp_seconds",
                                  "when the newest complete backup point was taken (Unix time)")
        stamp.add_metric([], newest.time.timestamp())
        size = GaugeMetricFamily("sitestack_backup_newest_bytes",
                                 "bytes a restore to the newest point writes, by kind", labels=["kind"])
        size.add_metric(["filestorage"], newest.filestorage_bytes)
        size.add_metric(["blobs"], newest.blob_bytes)
        yield from (stamp, size)

"""bin/backup: take a backup point (incremental unless --full), or pack the storage (--pack).

    bin/backup             incremental repozo backup (full when repozo needs one) + blob snapshot
    bin/backup --full      full backup + blob snapshot; older points beyond `keep` fulls are removed
    bin/backup --pack      pack through the running ZEO server, keeping `pack-days` days of history

The backup part writes the settings into parts/<part>/backup.json and bin/backup reads them.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from sitestack.backup.config import load
from sitestack.backup.take import BackupError, pack, take_backup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup", description="Back up (or pack) this site's ZODB.")
    parser.add_argument("--config", required=True, help="backup.json written by the backup part")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="a full backup instead of an incremental one")
    mode.add_argument("--pack", action="store_true", help="pack the storage through the ZEO server")
    parser.add_argument("--days", type=float, help="with --pack: days of history to keep (default: pack-days)")
    parser.add_argument("--wait", type=float, default=600,
                        help="seconds to wait for another backup, pack or restore to finish (default 600)")
    options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # FileStorage says "Ignoring index" of a Data.fs the running ZEO server has open: expected here
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("ZODB.FileStorage").setLevel(logging.ERROR)
    try:
        config = load(options.config)
        if options.pack:
            days = config.pack_days if options.days is None else options.days
            when = pack(config, days, options.wait)
            print(f"{stamp} backup: packed {config.storage} through {config.zeo_address}, "
                  f"history kept from {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(when))}")
            return 0
        point = take_backup(config, options.full, options.wait)
    except (BackupError, OSError, ValueError) as error:
        print(f"{stamp} backup: FAILED: {error}", file=sys.stderr)
        return 1
    print(f"{stamp} backup: {point.kind} point {point.stamp} in {config.location}: transaction {point.tid} "
          f"({point.transaction_time}), Data.fs {point.filestorage_bytes} bytes, "
          f"{point.blob_files} blobs ({point.blob_bytes} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

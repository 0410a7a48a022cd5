"""Backups of the ZEO server's FileStorage and blobs: repozo plus blob snapshots, restore, pack.

Layout of a backup location (collective.recipe.backup's names where they fit):

    <location>/                      0700
        filestorage/                 repozo's repository: <UTC stamp>.fs / .deltafs, .dat, .index
        blobstorage/                 blobstorage.<UTC stamp>: the blobs as of that repozo file,
                                     unchanged files hard-linked to the previous snapshot
        points/<UTC stamp>.json      written last: the backup point is complete (tid, kind, sizes)
        backup.lock                  held while a backup, a pack or a restore runs

The code that never touches the filesystem is in config.py and schedule.py.
"""

"""The lake: partitions of records under `{lake}/{zone}/{source}/{entity}/ds=YYYY-MM-DD/`.

Write–audit–publish: writers put files under `staging/`, a gate audits them, and
`publish` moves them into the zone and writes `_manifest.json` last. Readers
only see files a manifest lists, so a partition is either absent or whole.
The same code serves `file://` folders and `gs://` buckets through fsspec.
"""

from caravan.lake.manifest import FileEntry, Manifest
from caravan.lake.store import Lake, Partition, PartitionCorrupt, date_range

__all__ = ["FileEntry", "Lake", "Manifest", "Partition", "PartitionCorrupt", "date_range"]

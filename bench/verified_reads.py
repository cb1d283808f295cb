"""What checking files against their manifests costs readers, on a demo's lake.

For every published partition of a demo home (raw and curated), in turn: the manifest
read and the file list built from it (what readers did before), then the same with every
file's size and sha256 checked (`Lake.published`, what every reader does now). Rounds
alternate the two so that the machine's drift lands on both. Prints the median of each
per partition and over the whole lake, and the bytes hashed.

    .venv/bin/python bench/verified_reads.py --home .caravan --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from caravan.lake import Lake, Partition


def partitions(lake: Lake) -> list[Partition]:
    found = []
    for zone in ("raw", "curated"):
        for manifest in sorted(lake.fs.glob(f"{lake.root}/{zone}/*/*/ds=*/_manifest.json")):
            source, entity, folder = manifest.split("/")[-4:-1]
            found.append(Partition(zone, source, entity, folder.removeprefix("ds=")))
    return found


def listed(lake: Lake, partition: Partition) -> list[str]:
    """The files as readers listed them before: from the manifest, unchecked."""
    manifest = lake.read_manifest(partition)
    return [lake.reader_url(f"{lake.path(partition)}/{f.path}") for f in manifest.files]


def seconds(read, lake: Lake, found: list[Partition]) -> float:
    start = time.perf_counter()
    for partition in found:
        read(lake, partition)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path(".caravan"), help="a demo home")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lake = Lake(f"file://{(args.home / 'lake').resolve()}")
    found = partitions(lake)
    size = sum(f.bytes for p in found for f in lake.read_manifest(p).files)
    before, after = [], []
    for _ in range(args.repeat):
        before.append(seconds(listed, lake, found))
        after.append(seconds(lambda lake, p: lake.published(p), lake, found))
    unchecked, checked = statistics.median(before), statistics.median(after)
    per = 1e3 / len(found)
    print(f"{len(found)} published partitions, {size / 1e6:.1f} MB of files")
    print(f"manifest only:      {unchecked * 1e3:7.1f} ms ({unchecked * per:.2f} ms a partition)")
    print(f"manifest + checks:  {checked * 1e3:7.1f} ms ({checked * per:.2f} ms a partition)")
    extra = checked - unchecked
    print(f"the checks:         {extra * 1e3:7.1f} ms ({extra * 1e3 / (size / 1e6):.2f} ms a MB)")


if __name__ == "__main__":
    main()

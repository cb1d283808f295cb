"""The lake on a real `file://` folder: publish, manifests, replacement, visibility.

Expected values come from the bytes read back from disk (hashlib, gzip, json) and
from the records the tests write, never from what the lake reports about itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from caravan.lake import FileEntry, Lake, Manifest, Partition, PartitionCorrupt

DS = "2026-03-01"
# DESIGN §3, lake layout.
MANIFEST_KEYS = {
    "run_id",
    "source",
    "entity",
    "ds",
    "files",
    "delivered",
    "rows",
    "quarantined",
    "schema",
    "producer",
    "created_at",
}
FILE_KEYS = {"path", "rows", "bytes", "sha256"}

RECORDS_A = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
RECORDS_B = [{"id": 4, "name": "d"}, {"id": 5, "name": "e"}]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(f"file://{tmp_path / 'lake'}")


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def stage(lake: Lake, partition: Partition, *batches: list[dict]) -> list[tuple[str, int]]:
    folder = lake.staging_path(partition)
    return [
        lake.write_jsonl_gz(folder, f"batch-{n}.jsonl.gz", records)
        for n, records in enumerate(batches)
    ]


def publish(lake: Lake, partition: Partition, staged, *, delivered: int, quarantined: int = 0):
    return lake.publish(
        partition,
        staged,
        run_id="run-1",
        delivered=delivered,
        quarantined=quarantined,
        schema={"id": "integer", "name": "string"},
        producer="tests",
    )


def read_jsonl_gz(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def partition_dir(lake_dir: Path, zone="raw", source="shop", entity="orders", ds=DS) -> Path:
    return lake_dir / zone / source / entity / f"ds={ds}"


def test_publish_writes_the_files_and_a_manifest_with_the_design_keys(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    publish(
        lake, partition, stage(lake, partition, RECORDS_A, RECORDS_B), delivered=6, quarantined=1
    )

    folder = partition_dir(lake_dir)
    assert sorted(p.name for p in folder.iterdir()) == [
        "_manifest.json",
        "part-00000.jsonl.gz",
        "part-00001.jsonl.gz",
    ]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert (manifest["run_id"], manifest["source"], manifest["entity"], manifest["ds"]) == (
        "run-1",
        "shop",
        "orders",
        DS,
    )
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (6, 5, 1)
    assert manifest["producer"] == "tests"
    assert manifest["schema"] == {"id": "integer", "name": "string"}

    files = {entry["path"]: entry for entry in manifest["files"]}
    assert set(files) == {"part-00000.jsonl.gz", "part-00001.jsonl.gz"}
    for name, records in (("part-00000.jsonl.gz", RECORDS_A), ("part-00001.jsonl.gz", RECORDS_B)):
        data = (folder / name).read_bytes()
        assert set(files[name]) == FILE_KEYS
        assert files[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert files[name]["bytes"] == len(data)
        assert files[name]["rows"] == len(records)
        assert read_jsonl_gz(folder / name) == records


def test_publish_leaves_nothing_in_staging(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    staged = stage(lake, partition, RECORDS_A)
    staging = lake_dir / "staging" / "raw" / "shop" / "orders" / f"ds={DS}"
    (staging / "_SUCCESS").write_text("")  # what a Spark writer leaves beside its files
    publish(lake, partition, staged, delivered=3)
    assert not staging.exists()


def test_published_files_lists_the_partition_files_on_disk(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    publish(lake, partition, stage(lake, partition, RECORDS_A, RECORDS_B), delivered=5)
    folder = partition_dir(lake_dir)
    assert lake.published_files(partition) == [
        str(folder / "part-00000.jsonl.gz"),
        str(folder / "part-00001.jsonl.gz"),
    ]


def test_a_partition_without_a_manifest_is_invisible(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    publish(lake, partition, stage(lake, partition, RECORDS_A), delivered=3)
    (partition_dir(lake_dir) / "_manifest.json").unlink()

    assert (partition_dir(lake_dir) / "part-00000.jsonl.gz").exists()
    assert lake.published_files(partition) == []
    assert lake.read_manifest(partition) is None
    assert lake.published_dates("raw", "shop", "orders") == []


def test_files_dropped_in_a_partition_folder_are_not_published(lake, lake_dir):
    folder = partition_dir(lake_dir)
    folder.mkdir(parents=True)
    (folder / "part-00000.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1}\n'))
    assert lake.published_files(Partition("raw", "shop", "orders", DS)) == []


def test_republishing_with_fewer_files_replaces_the_partition_whole(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    publish(lake, partition, stage(lake, partition, RECORDS_A, RECORDS_B), delivered=5)
    rerun = [{"id": 9, "name": "z"}]
    publish(lake, partition, stage(lake, partition, rerun), delivered=1)

    folder = partition_dir(lake_dir)
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "part-00000.jsonl.gz"]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert [entry["path"] for entry in manifest["files"]] == ["part-00000.jsonl.gz"]
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (1, 1, 0)
    assert read_jsonl_gz(folder / "part-00000.jsonl.gz") == rerun
    assert lake.published_files(partition) == [str(folder / "part-00000.jsonl.gz")]


def test_gzip_output_is_byte_identical_for_the_same_records(tmp_path):
    # Same records, key order shuffled, written by two lakes in two folders at two times.
    shuffled = [{"name": r["name"], "id": r["id"]} for r in RECORDS_A]
    first = Lake(f"file://{tmp_path / 'one'}")
    second = Lake(f"file://{tmp_path / 'two'}")
    path_one, _ = first.write_jsonl_gz(str(tmp_path / "one" / "x"), "a.jsonl.gz", RECORDS_A)
    path_two, _ = second.write_jsonl_gz(str(tmp_path / "two" / "y"), "b.jsonl.gz", shuffled)
    one, two = Path(path_one).read_bytes(), Path(path_two).read_bytes()
    assert hashlib.sha256(one).hexdigest() == hashlib.sha256(two).hexdigest()
    assert one == two


def test_reruns_of_the_same_records_publish_the_same_sha256(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    digests = []
    for _ in range(2):
        publish(lake, partition, stage(lake, partition, RECORDS_A), delivered=3)
        data = (partition_dir(lake_dir) / "part-00000.jsonl.gz").read_bytes()
        digests.append(hashlib.sha256(data).hexdigest())
        manifest = json.loads((partition_dir(lake_dir) / "_manifest.json").read_text())
        assert manifest["files"][0]["sha256"] == digests[-1]
    assert digests[0] == digests[1]


def test_write_jsonl_gz_keeps_decimals_exact_as_strings(lake, tmp_path):
    path, rows = lake.write_jsonl_gz(
        str(tmp_path / "out"), "x.jsonl.gz", [{"price": Decimal("19.50")}, {"price": None}]
    )
    assert rows == 2
    assert read_jsonl_gz(Path(path)) == [{"price": "19.50"}, {"price": None}]


def manifest_with(delivered: int, rows: int, quarantined: int) -> Manifest:
    files = [FileEntry("part-00000.jsonl.gz", rows, 10, "0" * 64)]
    return Manifest(
        run_id="r",
        source="shop",
        entity="orders",
        ds=DS,
        files=files,
        delivered=delivered,
        rows=rows,
        quarantined=quarantined,
        schema={},
        producer="tests",
        created_at="2026-03-02T00:00:00+00:00",
    )


@pytest.mark.parametrize(("delivered", "rows", "quarantined"), [(10, 7, 2), (10, 7, 4), (7, 7, 1)])
def test_manifest_refuses_delivered_other_than_rows_plus_quarantined(delivered, rows, quarantined):
    with pytest.raises(ValueError, match=rf"delivered {delivered} != rows {rows}"):
        manifest_with(delivered, rows, quarantined)


def test_manifest_accepts_delivered_equal_to_rows_plus_quarantined():
    manifest = manifest_with(10, 7, 3)
    assert (manifest.delivered, manifest.rows, manifest.quarantined) == (10, 7, 3)


def test_manifest_refuses_files_that_hold_other_than_its_rows():
    with pytest.raises(ValueError, match="files hold 3 rows, manifest says 4"):
        Manifest(
            run_id="r",
            source="shop",
            entity="orders",
            ds=DS,
            files=[FileEntry("a", 1, 1, "x"), FileEntry("b", 2, 1, "y")],
            delivered=4,
            rows=4,
            quarantined=0,
            schema={},
            producer="tests",
            created_at="2026-03-02T00:00:00+00:00",
        )


def test_publish_refuses_counts_that_do_not_reconcile_and_keeps_no_manifest(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    with pytest.raises(ValueError, match="delivered 5 != rows 3 \\+ quarantined 1"):
        publish(lake, partition, stage(lake, partition, RECORDS_A), delivered=5, quarantined=1)
    assert not (partition_dir(lake_dir) / "_manifest.json").exists()
    assert lake.published_files(partition) == []


def test_a_refused_republish_keeps_the_partition_published_before(lake, lake_dir):
    partition = Partition("raw", "shop", "orders", DS)
    publish(lake, partition, stage(lake, partition, RECORDS_A), delivered=3)
    with pytest.raises(ValueError):
        publish(lake, partition, stage(lake, partition, RECORDS_B), delivered=9)
    folder = partition_dir(lake_dir)
    assert lake.published_files(partition) == [str(folder / "part-00000.jsonl.gz")]
    assert read_jsonl_gz(folder / "part-00000.jsonl.gz") == RECORDS_A


@pytest.mark.parametrize("zone", ["staging", "landing", "RAW", ""])
def test_partition_refuses_an_unknown_zone(zone):
    with pytest.raises(ValueError, match="unknown lake zone"):
        Partition(zone, "shop", "orders", DS)


@pytest.mark.parametrize("ds", ["2026-02-30", "20260301", "2026-03-01T00:00", "yesterday", ""])
def test_partition_refuses_a_malformed_ds(ds):
    with pytest.raises(ValueError):
        Partition("raw", "shop", "orders", ds)


@pytest.mark.parametrize("ds", ["2026-3-1", "2026-03-1"])
def test_partition_refuses_an_unpadded_ds(ds):
    with pytest.raises(ValueError):
        Partition("raw", "shop", "orders", ds)


@pytest.mark.parametrize("zone", ["raw", "curated", "quarantine"])
def test_partition_path_follows_the_lake_layout(lake, lake_dir, zone):
    partition = Partition(zone, "sales", "orders", DS)
    assert lake.path(partition) == str(lake_dir / zone / "sales" / "orders" / f"ds={DS}")
    assert lake.staging_path(partition) == str(
        lake_dir / "staging" / zone / "sales" / "orders" / f"ds={DS}"
    )


def test_published_dates_lists_only_manifested_ds(lake, lake_dir):
    for ds in ("2026-03-03", "2026-03-01", "2026-03-02"):
        partition = Partition("raw", "shop", "orders", ds)
        publish(lake, partition, stage(lake, partition, RECORDS_B), delivered=2)
    (partition_dir(lake_dir, ds="2026-03-02") / "_manifest.json").unlink()
    unpublished = partition_dir(lake_dir, ds="2026-03-04")
    unpublished.mkdir(parents=True)
    (unpublished / "part-00000.jsonl.gz").write_bytes(b"")
    # Another entity's partitions do not count.
    other = Partition("raw", "shop", "customers", "2026-03-05")
    publish(lake, other, stage(lake, other, RECORDS_B), delivered=2)

    assert lake.published_dates("raw", "shop", "orders") == ["2026-03-01", "2026-03-03"]
    assert lake.published_dates("raw", "shop", "customers") == ["2026-03-05"]
    assert lake.published_dates("raw", "shop", "products") == []


# -- verified reads: a published file that changed is a named failure, never data ------


def published_orders(lake: Lake) -> tuple[Partition, Path]:
    partition = Partition("raw", "shop", "orders", DS)
    publish(lake, partition, stage(lake, partition, RECORDS_A), delivered=3)
    return partition, Path(lake.path(partition)) / "part-00000.jsonl.gz"


def test_a_file_rewritten_after_publishing_is_refused_naming_partition_and_file(lake):
    partition, part = published_orders(lake)
    published_size = len(part.read_bytes())
    # Valid gzip JSON lines again, one value changed: only the bytes tell.
    rewritten = gzip.compress(
        b"".join(json.dumps(r | {"id": r["id"] * 10}).encode() + b"\n" for r in RECORDS_A)
    )
    part.write_bytes(rewritten)
    with pytest.raises(PartitionCorrupt) as caught:
        lake.published_files(partition)
    message = str(caught.value)
    assert f"{lake.url}/raw/shop/orders/ds={DS} does not match its _manifest.json" in message
    assert (
        f"part-00000.jsonl.gz has {len(rewritten)} bytes, the manifest {published_size}" in message
    )


def test_a_file_of_the_same_size_but_other_bytes_is_refused_by_its_sha256(lake):
    partition, part = published_orders(lake)
    published = part.read_bytes()
    tampered = bytearray(published)
    tampered[-5] ^= 0xFF  # one byte of the gzip trailer: the size stays
    part.write_bytes(bytes(tampered))
    with pytest.raises(
        PartitionCorrupt, match=r"part-00000\.jsonl\.gz has sha256 (\w+)…"
    ) as caught:
        lake.published_files(partition)
    assert hashlib.sha256(bytes(tampered)).hexdigest()[:12] in str(caught.value)
    assert hashlib.sha256(published).hexdigest()[:12] in str(caught.value)


def test_a_file_removed_after_publishing_is_refused(lake):
    partition, part = published_orders(lake)
    part.unlink()
    with pytest.raises(PartitionCorrupt, match=r"part-00000\.jsonl\.gz is missing"):
        lake.published(partition)


def test_an_untouched_partition_reads_as_published(lake):
    partition, part = published_orders(lake)
    manifest, files = lake.published(partition)
    assert files == [str(part)]
    assert manifest.rows == 3


def test_a_reader_that_counts_other_rows_than_the_manifest_fails(lake):
    partition, _ = published_orders(lake)
    manifest, _ = lake.published(partition)
    lake.check_rows(partition, manifest, 3, "a test reader")
    with pytest.raises(
        PartitionCorrupt, match=r"a test reader read 2 rows, the manifest records 3"
    ):
        lake.check_rows(partition, manifest, 2, "a test reader")


def test_an_unpublished_partition_is_not_found_by_published(lake):
    with pytest.raises(FileNotFoundError, match=rf"raw/shop/orders/ds={DS} is not published"):
        lake.published(Partition("raw", "shop", "orders", DS))

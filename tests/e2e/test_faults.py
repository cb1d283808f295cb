"""The fault and misuse probes of issue 13, replayed on a real two-day chain.

A clean `caravan demo` of two days is the baseline (tests/e2e/two_day_demo.py). Each
probe works on a copy of its home, does to it what the probe did (a file rewritten after
publishing, a source system that changed, a misused command), then runs the stage where
the problem enters: through Airflow (`caravan run`), or through the same step functions
the DAG tasks call. Each must fail loudly at that stage naming what was wrong, and leave
`analytics` and every published partition as they were: compared with the baseline's own
bytes and figures, not with anything the code under test reports.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from caravan.lake import Lake, Partition, PartitionCorrupt
from caravan.pipeline import ingest_steps, warehouse_steps
from caravan.runner import airflow_connection
from caravan.sources import PermanentSourceError
from caravan.sources.registry import load_registry_lenient
from tests.e2e.two_day_demo import CARAVAN, DEMO_DAYS, DEMO_SEED, demo_environ

pytestmark = pytest.mark.e2e

DAYS = list(DEMO_DAYS)
DS = DAYS[-1]
SEED = DEMO_SEED


def caravan(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`caravan ARGS` on `home`, from inside it (where a relative path would land)."""
    return subprocess.run(
        [CARAVAN, *args],
        env=demo_environ(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def baseline(two_day_demo) -> Path:
    """The two-day demo's home, only read here: each probe works on a copy."""
    return two_day_demo


@pytest.fixture(scope="module")
def sql_home(baseline, tmp_path_factory) -> Path:
    """One copy of the baseline for the `caravan sql` probes, which must change nothing."""
    copy = tmp_path_factory.mktemp("sql") / "home"
    shutil.copytree(baseline, copy, symlinks=True)
    return copy


@pytest.fixture
def home(baseline, tmp_path, monkeypatch) -> Path:
    """A copy of the baseline's home, the settings of this process pointing at it."""
    copy = tmp_path / "home"
    shutil.copytree(baseline, copy, symlinks=True)
    for name in [*os.environ]:
        if name.startswith(("AIRFLOW_CONN_", "CARAVAN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CARAVAN_HOME", str(copy))
    monkeypatch.setenv("CARAVAN_SEED", str(SEED))
    return copy


def analytics(home: Path) -> dict[str, list[tuple]]:
    """What analysts see: every row of the published marts that carry money."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return {
            table: con.execute(f"select * from analytics.{table} order by all").fetchall()
            for table in ("fct_orders", "fct_ad_spend_daily", "mart_marketing_roi")
        }
    finally:
        con.close()


def published(home: Path, zone: str = "") -> dict[str, str]:
    """sha256 of every file of every published partition (manifests included)."""
    lake = home / "lake" / zone
    found = {}
    for manifest in lake.rglob("_manifest.json"):
        for path in manifest.parent.iterdir():
            found[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def connection(conn_id: str, **spec):
    return airflow_connection(conn_id, spec)


def ingest(source: str, conn) -> list[dict]:
    """Extract and gate the source's day as its DAG's tasks do; publish only if it passed."""
    staged = ingest_steps.extract(source, DS, conn)
    ingest_steps.gate(staged, f"probe__{source}")
    ingest_steps.publish(staged, f"probe__{source}")
    return staged


# -- readers trust manifests, not files -------------------------------------------------


def test_a_raw_file_rewritten_after_publishing_stops_the_transform(home, baseline):
    part = home / "lake/raw/shop_db/order_items" / f"ds={DS}" / "part-00000.jsonl.gz"
    records = [json.loads(line) for line in gzip.decompress(part.read_bytes()).splitlines()]
    tenfold = [{**r, "unit_price": str(round(float(r["unit_price"]) * 10, 2))} for r in records]
    part.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in tenfold)))
    # What curate_orders (the job reading the file) and the job after it publish; the
    # other jobs read other inputs and may publish their day again, as it was.
    kept = [
        "curated/sales/orders",
        "curated/sales/order_items",
        "curated/sales/products",
        "curated/customers/customers",
        "curated/marketing/order_attribution",
    ]
    before = {folder: published(home, folder) for folder in kept}

    result = caravan(home, "run", "--start", DS, "--dag", "transform")

    log = (home / "logs" / "run.log").read_text()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAILED: transform failed for ds={DS}" in result.stdout
    assert f"raw/shop_db/order_items/ds={DS} does not match its _manifest.json" in log
    assert "part-00000.jsonl.gz has " in log
    db = sqlite3.connect(f"file:{home / 'airflow' / 'airflow.db'}?mode=ro", uri=True)
    try:
        tries = db.execute(
            "select state, try_number from task_instance"
            " where dag_id = 'transform' and task_id = 'run_curate_orders' and state = 'failed'"
        ).fetchall()
    finally:
        db.close()
    assert tries == [("failed", 1)]  # no retry: the file would not change back
    assert {folder: published(home, folder) for folder in kept} == before
    assert analytics(home) == analytics(baseline)


def test_a_curated_file_missing_a_row_is_not_loaded(home, baseline):
    part = home / "lake/curated/sales/orders" / f"ds={DS}" / "part-00000.parquet"
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)
    landing = "select count(*) from landing.sales__orders where ds = ?"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        loaded_before = con.execute(landing, [DS]).fetchone()[0]
    assert loaded_before == table.num_rows

    with pytest.raises(
        PartitionCorrupt, match=rf"curated/sales/orders/ds={DS} does not match"
    ) as e:
        warehouse_steps.load(DS, (("sales", "orders"),))
    assert "part-00000.parquet has " in str(e.value)

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(landing, [DS]).fetchone()[0] == loaded_before
    assert analytics(home) == analytics(baseline)


# -- drift and units caught where they enter --------------------------------------------


def shop_db_in_cents(home: Path) -> Path:
    """The shop's database after a migration: unit_price INTEGER cents, not NUMERIC dollars."""
    copy = home / "shop_in_cents.db"
    shutil.copy(home / "sources" / "shop.db", copy)
    with sqlite3.connect(copy) as db:
        db.executescript(
            """
            alter table order_items add column unit_price_cents integer;
            update order_items set unit_price_cents = cast(round(unit_price * 100) as integer);
            alter table order_items drop column unit_price;
            alter table order_items rename column unit_price_cents to unit_price;
            """
        )
    return copy


def test_prices_turned_into_cents_fail_the_raw_gate_naming_the_field(home, baseline):
    raw_before = published(home, "raw")
    conn = connection(
        "shop_db_default",
        conn_type="generic",
        extra={"sqlalchemy_url": f"sqlite:///{shop_db_in_cents(home)}"},
    )
    with pytest.raises(AirflowFailException) as failed:
        ingest("shop_db", conn)
    message = str(failed.value)
    assert "shop_db/order_items" in message
    assert "unit_price__reference_ratio" in message  # 100 x the catalogue's price
    assert "unit_price__json_type" in message  # a decimal string turned integer
    assert published(home, "raw") == raw_before  # nothing of the source was published
    assert analytics(home) == analytics(baseline)


def web_landing(home: Path) -> Path:
    """A copy of the web analytics export folder, for a probe to change."""
    copy = home / "web_landing"
    shutil.copytree(home / "sources" / "landing" / "web_analytics", copy)
    return copy


def web_connection(folder: Path):
    return connection("web_analytics_default", conn_type="fs", extra={"path": str(folder)})


def test_a_dropped_field_fails_the_raw_gate_naming_it(home, baseline):
    folder = web_landing(home)
    export = folder / f"events_{DS.replace('-', '')}.ndjson"
    events = [json.loads(line) for line in export.read_text().splitlines()]
    export.write_text("".join(json.dumps({**e, "device": None}) + "\n" for e in events))
    raw_before = published(home, "raw")

    with pytest.raises(AirflowFailException, match=r"device__json_type") as failed:
        ingest("web_analytics", web_connection(folder))
    assert "expect_column_unique_value_count_to_be_between" in str(failed.value)
    assert published(home, "raw") == raw_before
    assert analytics(home) == analytics(baseline)


def test_an_empty_export_fails_the_raw_gate(home, baseline):
    folder = web_landing(home)
    (folder / f"events_{DS.replace('-', '')}.ndjson").write_bytes(b"")
    raw_before = published(home, "raw")

    with pytest.raises(AirflowFailException, match=r"expect_table_row_count_to_be_between"):
        ingest("web_analytics", web_connection(folder))
    assert published(home, "raw") == raw_before
    assert analytics(home) == analytics(baseline)


def test_a_csv_with_a_byte_order_mark_publishes_the_same_partition(home):
    folder = home / "fx_landing"
    shutil.copytree(home / "sources" / "landing" / "fx_rates", folder)
    rates = folder / f"rates_{DS}.csv"
    rates.write_bytes(b"\xef\xbb\xbf" + rates.read_bytes())  # as Excel saves "CSV UTF-8"
    partition = home / "lake/raw/fx_rates/rates" / f"ds={DS}"
    before = hashlib.sha256((partition / "part-00000.jsonl.gz").read_bytes()).hexdigest()

    ingest("fx_rates", connection("fx_rates_default", conn_type="fs", extra={"path": str(folder)}))

    # The same records give the same bytes: nothing lost, nothing renamed by the BOM.
    assert hashlib.sha256((partition / "part-00000.jsonl.gz").read_bytes()).hexdigest() == before


# -- registry and input hygiene ---------------------------------------------------------


def test_a_traversal_glob_and_a_bad_entity_name_are_refused_and_the_rest_loads(tmp_path):
    registry = tmp_path / "sources.yaml"
    registry.write_text(
        "good:\n  kind: file_drop\n  conn_id: c\n  entities:\n"
        "    rates: {files: 'rates_*.csv', format: csv, primary_key: id}\n"
        "sneaky:\n  kind: file_drop\n  conn_id: c\n  entities:\n"
        "    passwd: {files: '../../../../etc/passwd', format: csv, primary_key: id}\n"
        "climber:\n  kind: file_drop\n  conn_id: c\n  entities:\n"
        "    '../up': {files: 'x.csv', format: csv, primary_key: id}\n"
    )
    sources, errors = load_registry_lenient(registry)
    assert list(sources) == ["good"]
    messages = "\n".join(map(str, errors))
    assert "source 'sneaky': entity 'passwd'" in messages and "'../../../../etc/passwd'" in messages
    assert "source 'climber'" in messages and "'../up'" in messages


class _EchoingApi(http.server.BaseHTTPRequestHandler):
    """A CRM that refuses the token, echoing the request's Authorization header back."""

    requests = 0

    def do_POST(self):  # noqa: N802 - the handler's name in http.server
        type(self).requests += 1
        body = json.dumps(
            {"message": f"Invalid token {self.headers.get('Authorization')}", "status": "error"}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_api_echoing_its_token_fails_at_once_without_the_token(home, caplog):
    token = "pat-na1-0123456789abcdef0123"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = connection(
            "crm_default",
            conn_type="http",
            host=f"http://127.0.0.1:{server.server_port}",
            password=token,
        )
        with pytest.raises(PermanentSourceError) as failed:
            ingest_steps.extract("crm", DS, conn)
    finally:
        server.shutdown()
    assert _EchoingApi.requests == 1  # a 401 is the same on every retry: none
    assert "HTTP 401" in str(failed.value)
    assert token not in str(failed.value) and "***" in str(failed.value)
    assert token not in caplog.text


# -- caravan sql reads, and only reads --------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "copy (select 1) to 'x.csv'",
        "copy analytics.fct_orders to 'lake/curated/sales/orders/ds=2026-11-02/part-00000.parquet'",
        "select * from read_csv('/etc/passwd')",
        "attach 'other.duckdb' as other",
        "install httpfs",
        "select 1; select 2",
    ],
)
def test_caravan_sql_refuses_every_escape_and_changes_nothing(sql_home, baseline, query):
    before = published(sql_home)
    files = sorted(str(p) for p in sql_home.rglob("*"))
    result = caravan(sql_home, "sql", query)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("caravan sql: refused")
    assert published(sql_home) == before
    assert sorted(str(p) for p in sql_home.rglob("*")) == files
    assert analytics(sql_home) == analytics(baseline)


def test_caravan_sql_still_answers_a_read(sql_home):
    result = caravan(sql_home, "sql", "select count(*) as orders from analytics.fct_orders")
    assert result.returncode == 0, result.stderr
    orders = len(analytics(sql_home)["fct_orders"])  # one row an order
    assert result.stdout.split() == ["orders", str(orders), "(1", "row)"]


# -- SIGKILL while publishing -----------------------------------------------------------

_KILLED_WHILE_PUBLISHING = """
import os, signal, sys
import fsspec.implementations.local as local
from caravan.pipeline import ingest_steps
from caravan.runner import airflow_connection

conn = airflow_connection(
    "shop_db_default", {"conn_type": "generic", "extra": {"sqlalchemy_url": sys.argv[1]}}
)
staged = ingest_steps.extract("shop_db", sys.argv[2], conn)
ingest_steps.gate(staged, "killed")
copy = local.LocalFileSystem.cp_file
def copy_then_die(self, path1, path2, **kwargs):
    copy(self, path1, path2, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # the first file is in place, its manifest not
local.LocalFileSystem.cp_file = copy_then_die
ingest_steps.publish(staged, "killed")
"""


def test_a_publish_killed_half_way_leaves_the_partition_absent_then_a_rerun_whole(home):
    shop_db = f"sqlite:///{home / 'sources' / 'shop.db'}"
    before = published(home, "raw/shop_db")
    script = home / "killed.py"
    script.write_text(_KILLED_WHILE_PUBLISHING)
    killed = subprocess.run(
        [sys.executable, str(script), shop_db, DS], env=demo_environ(home), capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-3000:]

    lake = Lake(f"file://{home / 'lake'}")
    partitions = [Partition("raw", "shop_db", e, DS) for e in ("customers", "products")]
    # The first entity's manifest went first: readers find it not published, never partial.
    assert lake.read_manifest(partitions[0]) is None
    with pytest.raises(FileNotFoundError, match="is not published"):
        lake.published(partitions[0])

    ingest("shop_db", connection("shop_db_default", conn_type="generic", extra={
        "sqlalchemy_url": shop_db}))  # fmt: skip
    after = published(home, "raw/shop_db")
    # The same files again, byte for byte; only the manifests' run ids and times differ.
    assert {p: h for p, h in after.items() if "part-" in p} == {
        p: h for p, h in before.items() if "part-" in p
    }
    assert {p for p in after} == {p for p in before}

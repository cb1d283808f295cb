"""The BigQuery target. There is no BigQuery emulator here, so:

- the load job's configuration is checked as a value;
- the real google-cloud-bigquery client runs against a small HTTP server started here,
  and the tests assert the JSON of the requests it sends (jobs.insert for the load and
  the copies, the query of a gate), with the lake on fake-gcs-server (real GCS API);
- dbt parses and compiles the project for `--target bigquery`, offline.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials

from caravan.lake import Lake
from caravan.settings import Settings
from caravan.warehouse.bigquery import BigQueryWarehouse, load_job_config, partition_destination
from caravan.warehouse.targets import warehouse

PROJECT = "caravan-test"
SCHEMA = pa.schema([("order_id", pa.string()), ("net_revenue", pa.decimal128(18, 2))])

# -- the load job's configuration ------------------------------------------------------


def test_the_load_replaces_the_day_partition_with_ds_from_the_path():
    config = load_job_config("gs://caravan-lake/prod", "sales", "orders")
    assert config.to_api_repr() == {
        "load": {
            "sourceFormat": "PARQUET",
            "writeDisposition": "WRITE_TRUNCATE",
            "createDisposition": "CREATE_IF_NEEDED",
            "timePartitioning": {"type": "DAY", "field": "ds"},
            "hivePartitioningOptions": {
                "mode": "CUSTOM",
                "sourceUriPrefix": "gs://caravan-lake/prod/curated/sales/orders/{ds:DATE}",
            },
            "parquetOptions": {"enableListInference": True},
            "decimalTargetTypes": ["NUMERIC", "BIGNUMERIC"],
            "schemaUpdateOptions": ["ALLOW_FIELD_ADDITION"],
        }
    }


def test_the_destination_is_the_landing_tables_partition_of_the_ds():
    table = BigQueryWarehouse("caravan-prod", "EU").landing_table("marketing", "ad_spend_daily")
    assert (
        partition_destination("caravan-prod", table, "2026-11-01")
        == "caravan-prod.landing.marketing__ad_spend_daily$20261101"
    )


def test_a_lake_off_cloud_storage_is_refused_saying_why(tmp_path):
    with pytest.raises(ValueError, match=r"CARAVAN_LAKE_URL=file://.*needs the lake on gs://"):
        load_job_config(f"file://{tmp_path}", "sales", "orders")
    with pytest.raises(ValueError, match=r"BigQuery loads from Cloud Storage only"):
        BigQueryWarehouse(PROJECT, "EU").load_partition(
            Lake(f"file://{tmp_path}"), "sales", "orders", "2026-11-01"
        )


# -- the real client against a local HTTP server ---------------------------------------


class FakeBigQuery(ThreadingHTTPServer):
    """Answers the BigQuery v2 REST calls Caravan makes, the way BigQuery does, and keeps
    every request: (method, path, JSON body)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict | None]] = []
        self.jobs: dict[str, dict] = {}
        self.tables: set[str] = set()  # "dataset.table" that exist
        self.output_rows = 0
        self.query_result: dict = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def jobs_inserted(self, kind: str) -> list[dict]:
        return [
            body["configuration"][kind]
            for method, path, body in self.requests
            if method == "POST" and path.endswith("/jobs") and kind in body["configuration"]
        ]


class _Handler(BaseHTTPRequestHandler):
    server: FakeBigQuery

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        self.server.requests.append(("POST", path, body))
        if path.endswith("/datasets"):
            return self._reply(200, body)
        if path.endswith("/jobs"):
            job = {**body, "status": {"state": "DONE"}, "statistics": {}}
            config = body["configuration"]
            if "load" in config:
                job["statistics"]["load"] = {"outputRows": str(self.server.output_rows)}
            if "query" in config:
                job["statistics"]["query"] = {}
            self.server.jobs[body["jobReference"]["jobId"]] = job
            return self._reply(200, job)
        self._reply(404, {"error": {"code": 404, "message": f"no route {path}"}})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.requests.append(("GET", path, None))
        if match := re.search(r"/datasets/([^/]+)/tables/([^/]+)$", path):
            dataset, table = match.groups()
            if f"{dataset}.{table}" not in self.server.tables:
                message = f"Not found: Table {PROJECT}:{dataset}.{table}"
                return self._reply(404, {"error": {"code": 404, "message": message}})
            reference = {"projectId": PROJECT, "datasetId": dataset, "tableId": table}
            return self._reply(200, {"tableReference": reference})
        if match := re.search(r"/jobs/([^/]+)$", path):
            return self._reply(200, self.server.jobs[match.group(1)])
        if match := re.search(r"/queries/([^/]+)$", path):
            job = self.server.jobs[match.group(1)]
            return self._reply(
                200,
                {
                    "jobReference": job["jobReference"],
                    "jobComplete": True,
                    **self.server.query_result,
                },
            )
        self._reply(404, {"error": {"code": 404, "message": f"no route {path}"}})


@pytest.fixture
def bigquery_api() -> Iterator[FakeBigQuery]:
    server = FakeBigQuery()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def target(bigquery_api) -> BigQueryWarehouse:
    """The BigQuery target, its client on the local server."""
    return BigQueryWarehouse(
        PROJECT,
        "EU",
        client_kwargs={
            "credentials": AnonymousCredentials(),
            "client_options": ClientOptions(api_endpoint=bigquery_api.url),
        },
    )


def test_a_load_sends_one_job_of_the_manifests_files_into_the_ds_partition(
    target, bigquery_api, gcs_lake, publish_curated
):
    lake = gcs_lake
    rows = [{"order_id": "1", "net_revenue": Decimal("10.50")}]
    publish_curated(lake, "sales", "orders", "2026-11-01", SCHEMA, rows, rows, rows)
    bigquery_api.output_rows = 3

    assert target.load_partition(lake, "sales", "orders", "2026-11-01") == 3

    [dataset] = [body for method, path, body in bigquery_api.requests if path.endswith("datasets")]
    assert dataset["datasetReference"] == {"projectId": PROJECT, "datasetId": "landing"}
    assert dataset["location"] == "EU"
    [load] = bigquery_api.jobs_inserted("load")
    folder = f"gs://{lake.root.split('/', 1)[0]}/{lake.root.split('/', 1)[1]}/curated/sales/orders"
    assert load["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": "landing",
        "tableId": "sales__orders$20261101",
    }
    assert load["sourceUris"] == [
        f"{folder}/ds=2026-11-01/part-00000.parquet",
        f"{folder}/ds=2026-11-01/part-00001.parquet",
        f"{folder}/ds=2026-11-01/part-00002.parquet",
    ]
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    assert load["timePartitioning"] == {"type": "DAY", "field": "ds"}
    assert load["hivePartitioningOptions"] == {
        "mode": "CUSTOM",
        "sourceUriPrefix": f"{folder}/{{ds:DATE}}",
    }
    assert load["sourceFormat"] == "PARQUET"


def test_an_unpublished_partition_sends_no_job(target, bigquery_api, gcs_lake):
    lake = gcs_lake
    with pytest.raises(FileNotFoundError, match=r"curated/sales/orders/ds=2026-11-02"):
        target.load_partition(lake, "sales", "orders", "2026-11-02")
    assert bigquery_api.requests == []


def test_publish_copies_each_mart_over_its_analytics_table(target, bigquery_api):
    bigquery_api.tables |= {"marts.fct_orders", "marts.mart_marketing_roi"}
    target.publish_analytics(("fct_orders", "mart_marketing_roi"))
    copies = bigquery_api.jobs_inserted("copy")
    assert [(copy["sourceTables"], copy["destinationTable"]) for copy in copies] == [
        (
            [{"projectId": PROJECT, "datasetId": "marts", "tableId": mart}],
            {"projectId": PROJECT, "datasetId": "analytics", "tableId": mart},
        )
        for mart in ("fct_orders", "mart_marketing_roi")
    ]
    assert {copy["writeDisposition"] for copy in copies} == {"WRITE_TRUNCATE"}


def test_a_publish_with_a_mart_missing_copies_nothing(target, bigquery_api):
    bigquery_api.tables |= {"marts.fct_orders"}
    with pytest.raises(NotFound, match="marts.mart_marketing_roi"):
        target.publish_analytics(("fct_orders", "mart_marketing_roi"))
    assert bigquery_api.jobs_inserted("copy") == []


def test_a_gate_reads_its_projection_of_the_mart(target, bigquery_api):
    bigquery_api.query_result = {
        "schema": {
            "fields": [
                {"name": "order_id", "type": "STRING", "mode": "NULLABLE"},
                {"name": "order_date", "type": "DATE", "mode": "NULLABLE"},
                {"name": "net_revenue_gap", "type": "NUMERIC", "mode": "NULLABLE"},
            ]
        },
        "rows": [
            {"f": [{"v": "1"}, {"v": "2026-11-01"}, {"v": "0.01"}]},
            {"f": [{"v": "2"}, {"v": None}, {"v": "0"}]},
        ],
        "totalRows": "2",
    }
    projection = "order_id, order_date, net_revenue_gap"
    frame = target.mart_frame("fct_orders", projection)
    [query] = bigquery_api.jobs_inserted("query")
    assert query["query"] == f"select {projection} from marts.fct_orders as source_rows"
    assert list(frame.columns) == ["order_id", "order_date", "net_revenue_gap"]
    assert list(frame["order_id"]) == ["1", "2"]
    assert frame["order_date"][0] == date(2026, 11, 1)
    assert frame["order_date"].isna().tolist() == [False, True]
    assert frame["net_revenue_gap"].tolist() == [0.01, 0.0]


# -- settings, dispatch and dbt --------------------------------------------------------


def test_the_bigquery_target_and_its_dbt_profile_come_from_the_settings(
    service_account_keyfile, written_profile
):
    settings = Settings.from_env(
        {
            "CARAVAN_TARGET": "bigquery",
            "CARAVAN_BIGQUERY_PROJECT": "caravan-prod",
            "CARAVAN_BIGQUERY_LOCATION": "EU",
        }
    )
    assert warehouse(settings) == BigQueryWarehouse(
        "caravan-prod", "EU", None, results_path=settings.warehouse_path
    )
    assert written_profile(settings) == (
        {
            "type": "bigquery",
            "method": "oauth",
            "project": "caravan-prod",
            "dataset": "main",
            "location": "EU",
            "threads": 4,
        },
        {},
    )
    # Without a project, the key file's own.
    keyed = Settings.from_env(
        {"CARAVAN_TARGET": "bigquery", "CARAVAN_BIGQUERY_KEYFILE": str(service_account_keyfile)}
    )
    assert written_profile(keyed) == (
        {
            "type": "bigquery",
            "method": "service-account",
            "keyfile": str(service_account_keyfile),
            "project": PROJECT,
            "dataset": "main",
            "location": "US",
            "threads": 4,
        },
        {},
    )


@pytest.fixture
def service_account_keyfile(tmp_path) -> Path:
    """A key file of the real format with a key made here: enough to build credentials,
    which ask for a token only when a request is sent (dbt sends none below)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test",
                "private_key": pem,
                "client_email": f"dbt@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "http://127.0.0.1:9/token",
            }
        )
    )
    return path


def test_dbt_parses_and_compiles_the_project_for_bigquery_offline(
    tmp_path, service_account_keyfile, run_dbt
):
    settings = Settings.from_env(
        {
            "CARAVAN_TARGET": "bigquery",
            "CARAVAN_BIGQUERY_PROJECT": PROJECT,
            "CARAVAN_BIGQUERY_KEYFILE": str(service_account_keyfile),
        }
    )
    parsed = run_dbt(settings, "parse")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "bigquery"

    # Compiling opens a connection (credentials, no request) and, left to itself, lists
    # the datasets: --no-populate-cache and --no-introspect keep it offline. An incremental
    # model cannot compile offline: is_incremental() looks its table up in the warehouse.
    compiled = run_dbt(
        settings,
        "compile",
        "--no-populate-cache",
        "--no-introspect",
        "--exclude",
        "config.materialized:incremental",
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    orders = next((tmp_path / "target" / "compiled").rglob("stg_sales__orders.sql")).read_text()
    assert f"`{PROJECT}`.`landing`.`sales__orders`" in orders

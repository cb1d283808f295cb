"""The BigQuery warehouse: curated partitions loaded from Cloud Storage into `landing`,
marts copied to `analytics`.

No emulator runs here: tests/caravan/warehouse/test_bigquery.py checks the load job's
configuration, and the requests the real client sends, against a local HTTP server.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caravan.lake import Lake, Partition
from caravan.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from caravan.quality.results import GateResult

LANDING = "landing"
MARTS = "marts"
ANALYTICS = "analytics"


def partition_destination(project: str, table: str, ds: str) -> str:
    """The partition of `ds` of a table (`<dataset>.<table>`): `<project>.<table>$YYYYMMDD`."""
    return f"{project}.{table}${date.fromisoformat(ds):%Y%m%d}"


def require_gcs_lake(lake_url: str) -> None:
    if not lake_url.startswith("gs://"):
        raise ValueError(
            f"CARAVAN_LAKE_URL={lake_url}: BigQuery loads from Cloud Storage only, so the"
            " BigQuery target needs the lake on gs://bucket/prefix"
        )


def load_job_config(lake_url: str, domain: str, entity: str):
    """How a curated partition loads: Parquet, replacing the destination partition whole,
    the table partitioned by day on `ds`, and `ds` read from the files' `ds=YYYY-MM-DD`
    folder (hive partitioning with the key's type in the prefix), not from the files."""
    from google.cloud import bigquery
    from google.cloud.bigquery.external_config import HivePartitioningOptions
    from google.cloud.bigquery.format_options import ParquetOptions

    require_gcs_lake(lake_url)
    hive = HivePartitioningOptions()
    hive.mode = "CUSTOM"
    hive.source_uri_prefix = f"{lake_url.rstrip('/')}/curated/{domain}/{entity}/{{ds:DATE}}"
    parquet = ParquetOptions()
    parquet.enable_list_inference = True  # list<string> as REPEATED STRING, not a record
    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        time_partitioning=bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field="ds"
        ),
        hive_partitioning=hive,
        parquet_options=parquet,
        # Money stays exact: Parquet decimals load as NUMERIC (BIGNUMERIC if wider).
        decimal_target_types=["NUMERIC", "BIGNUMERIC"],
        # A column a later partition brings is added (allowed when truncating a partition).
        schema_update_options=[bigquery.SchemaUpdateOption.ALLOW_FIELD_ADDITION],
    )


@dataclass(frozen=True)
class BigQueryWarehouse:
    """A client per operation, on the service-account key file if one is named, else on
    application default credentials (`gcloud auth application-default login`, a VM's
    account)."""

    project: str | None
    location: str
    keyfile: str | None = None
    # Validation results stay in this DuckDB file on BigQuery for now (docs/warehouse.md).
    results_path: Path | None = None
    # More keyword arguments for the client: the tests' credentials and local endpoint.
    client_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> BigQueryWarehouse:
        return cls(
            settings.bigquery_project,
            settings.bigquery_location,
            settings.bigquery_keyfile,
            results_path=settings.warehouse_path,
        )

    def client(self) -> Any:
        from google.cloud import bigquery

        kwargs = {"project": self.project, "location": self.location, **self.client_kwargs}
        if self.keyfile:
            return bigquery.Client.from_service_account_json(self.keyfile, **kwargs)
        return bigquery.Client(**kwargs)

    def landing_table(self, domain: str, entity: str) -> str:
        """`curated/<domain>/<entity>` lands in `landing.<domain>__<entity>`."""
        return f"{LANDING}.{domain}__{entity}"

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int:
        """Replace one `ds` of a landing table with the published curated partition: one load
        job of exactly the files its manifest lists, truncating that day's partition only."""
        require_gcs_lake(lake.url)
        partition = Partition("curated", domain, entity, ds)
        manifest, files = lake.published(partition)
        client = self.client()
        _ensure_dataset(client, LANDING)
        job = client.load_table_from_uri(
            files,
            partition_destination(client.project, self.landing_table(domain, entity), ds),
            job_config=load_job_config(lake.url, domain, entity),
        )
        job.result()
        loaded = int(job.output_rows or 0)
        # WRITE_TRUNCATE on the day's partition: a count that disagrees is worth a failed
        # task (the next load of the day replaces it), not a silent shortfall.
        lake.check_rows(partition, manifest, loaded, f"the load job {job.job_id}")
        return loaded

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame:
        """A mart as built (in `marts`, before publishing), projected for its gate.

        NUMERIC columns come as floats, as DuckDB gives them to the gates. (Built from the
        rows: the client's own to_dataframe is deprecated in favour of pandas-gbq, which
        makes its own client.)
        """
        import pandas as pd

        query = f"select {projection} from {MARTS}.{table} as source_rows"
        rows = self.client().query(query).result()
        frame = pd.DataFrame([dict(row) for row in rows], columns=[f.name for f in rows.schema])
        numeric = [f.name for f in rows.schema if f.field_type in ("NUMERIC", "BIGNUMERIC")]
        return frame.astype({name: "float64" for name in numeric})

    def mart_batch(self, table: str, projection: str) -> pd.DataFrame:
        return self.mart_frame(table, projection)

    def publish_analytics(self, marts: tuple[str, ...]) -> None:
        """Copy the gated marts into `analytics`, one copy job per mart (WRITE_TRUNCATE).

        BigQuery has no transaction across tables for copy jobs: each analytics table
        switches atomically on its own, to the whole new mart or not at all. Every mart is
        looked up first, so a missing one publishes nothing, and the jobs run together, so
        the tables switch within moments of each other.
        """
        from google.cloud import bigquery

        client = self.client()
        sources = [client.get_table(f"{client.project}.{MARTS}.{mart}") for mart in marts]
        _ensure_dataset(client, ANALYTICS)
        config = bigquery.CopyJobConfig(
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        )
        jobs = [
            client.copy_table(source, f"{client.project}.{ANALYTICS}.{mart}", job_config=config)
            for source, mart in zip(sources, marts, strict=True)
        ]
        for job in jobs:
            job.result()

    def record_validation_results(self, result: GateResult) -> None:
        self._results_warehouse().record_validation_results(result)

    def recording(self) -> AbstractContextManager[None]:
        if self.results_path is None:
            return nullcontext()
        return self._results_warehouse().recording()

    def _results_warehouse(self):
        """The DuckDB file the gates' results go to (GX's BigQuery engine and a DML of the
        rows could not be tested here: docs/warehouse.md)."""
        from caravan.warehouse.duckdb import DuckDBWarehouse

        if self.results_path is None:
            raise ValueError("BigQuery target: no results_path to record validation results in")
        return DuckDBWarehouse(self.results_path)


def default_project(keyfile: str | None = None) -> str | None:
    """The credentials' own project, for when CARAVAN_BIGQUERY_PROJECT is unset: the key
    file's `project_id`, else application default credentials' project."""
    if keyfile:
        import json

        return json.loads(Path(keyfile).read_text()).get("project_id")
    import google.auth

    return google.auth.default()[1]


def _ensure_dataset(client: Any, name: str) -> None:
    from google.cloud import bigquery

    dataset = bigquery.Dataset(f"{client.project}.{name}")
    dataset.location = client.location
    client.create_dataset(dataset, exists_ok=True)

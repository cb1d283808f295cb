"""The BigQuery warehouse: curated partitions loaded from Cloud Storage into `landing`,
marts copied to `analytics`.

No emulator runs here: tests/caravan/warehouse/test_bigquery.py checks the load job's
configuration, and the requests the real client sends, against a local HTTP server.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from caravan.lake import Lake, Partition
from caravan.warehouse import PUBLISHED_MARTS

LANDING = "landing"
MARTS = "marts"
ANALYTICS = "analytics"


def landing_table(domain: str, entity: str) -> str:
    """`curated/<domain>/<entity>` lands in `landing.<domain>__<entity>`."""
    return f"{LANDING}.{domain}__{entity}"


def partition_destination(project: str, domain: str, entity: str, ds: str) -> str:
    """The landing table's partition of `ds`: `<project>.landing.<table>$YYYYMMDD`."""
    return f"{project}.{landing_table(domain, entity)}${date.fromisoformat(ds):%Y%m%d}"


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


def make_client(project: str | None, location: str, keyfile: str | None = None, **kwargs: Any):
    """A client on the service-account key file if one is named, else on application
    default credentials (`gcloud auth application-default login`, a VM's account)."""
    from google.cloud import bigquery

    if keyfile:
        return bigquery.Client.from_service_account_json(
            keyfile, project=project, location=location, **kwargs
        )
    return bigquery.Client(project=project, location=location, **kwargs)


def default_project(keyfile: str | None = None) -> str | None:
    """The credentials' own project, for when CARAVAN_BIGQUERY_PROJECT is unset: the key
    file's `project_id`, else application default credentials' project."""
    if keyfile:
        import json
        from pathlib import Path

        return json.loads(Path(keyfile).read_text()).get("project_id")
    import google.auth

    return google.auth.default()[1]


def ensure_dataset(client: Any, name: str) -> None:
    from google.cloud import bigquery

    dataset = bigquery.Dataset(f"{client.project}.{name}")
    dataset.location = client.location
    client.create_dataset(dataset, exists_ok=True)


def load_partition(client: Any, lake: Lake, domain: str, entity: str, ds: str) -> int:
    """Replace one `ds` of a landing table with the published curated partition: one load
    job of exactly the files its manifest lists, truncating that day's partition only."""
    require_gcs_lake(lake.url)
    partition = Partition("curated", domain, entity, ds)
    manifest, files = lake.published(partition)
    ensure_dataset(client, LANDING)
    job = client.load_table_from_uri(
        files,
        partition_destination(client.project, domain, entity, ds),
        job_config=load_job_config(lake.url, domain, entity),
    )
    job.result()
    loaded = int(job.output_rows or 0)
    # WRITE_TRUNCATE on the day's partition: a count that disagrees is worth a failed task
    # (the next load of the day replaces it), not a silent shortfall.
    lake.check_rows(partition, manifest, loaded, f"the load job {job.job_id}")
    return loaded


def mart_frame(client: Any, table: str, projection: str):
    """A mart as built (in `marts`, before publishing), projected for its gate.

    NUMERIC columns come as floats, as DuckDB gives them to the gates. (Built from the
    rows: the client's own to_dataframe is deprecated in favour of pandas-gbq, which
    makes its own client.)
    """
    import pandas as pd

    rows = client.query(f"select {projection} from {MARTS}.{table} as source_rows").result()
    frame = pd.DataFrame([dict(row) for row in rows], columns=[f.name for f in rows.schema])
    numeric = [f.name for f in rows.schema if f.field_type in ("NUMERIC", "BIGNUMERIC")]
    return frame.astype({name: "float64" for name in numeric})


def publish_analytics(client: Any, marts: tuple[str, ...] = PUBLISHED_MARTS) -> None:
    """Copy the gated marts into `analytics`, one copy job per mart (WRITE_TRUNCATE).

    BigQuery has no transaction across tables for copy jobs: each analytics table switches
    atomically on its own, to the whole new mart or not at all. Every mart is looked up
    first, so a missing one publishes nothing, and the jobs run together, so the tables
    switch within moments of each other.
    """
    from google.cloud import bigquery

    sources = [client.get_table(f"{client.project}.{MARTS}.{mart}") for mart in marts]
    ensure_dataset(client, ANALYTICS)
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

"""Tasks of the `transform` DAG: Spark jobs into staged curated partitions, gated, published."""

from __future__ import annotations

import importlib
import logging

from caravan.dag_support import partition_ds
from caravan.lake import Lake, Partition
from caravan.settings import get_settings

log = logging.getLogger(__name__)

# Spark job (module in spark_jobs/) → the curated entity it writes.
JOB_OUTPUTS = {
    "unify_ad_spend": ("marketing", "ad_spend_daily"),
    "curate_orders": ("sales", "orders"),
}
PRODUCER = "caravan.transform"


def _output(job: str, ds: str) -> Partition:
    return Partition("curated", *JOB_OUTPUTS[job], ds)


def staged_parquet(lake: Lake, partition: Partition) -> list[tuple[str, int]]:
    """The Parquet files a job left in staging, with their row counts (from the footers)."""
    import pyarrow.parquet as pq

    files = []
    for path in sorted(lake.fs.glob(f"{lake.staging_path(partition)}/*.parquet")):
        with lake.fs.open(path, "rb") as handle:
            files.append((path, pq.ParquetFile(handle).metadata.num_rows))
    return files


def run_job(job: str, context: dict) -> dict:
    """Run a Spark job in this process (local[*] or through Spark Connect)."""
    from spark_jobs.common.session import get_session

    settings = get_settings()
    ds = partition_ds(context)
    lake = Lake(settings.lake_url)
    module = importlib.import_module(f"spark_jobs.{job}")
    module.run(get_session(f"caravan-{job}", settings.spark_remote), lake, ds)
    staged = staged_parquet(lake, _output(job, ds))
    log.info(
        "%s ds=%s: staged %d rows in %d files", job, ds, sum(r for _, r in staged), len(staged)
    )
    return {"job": job, "ds": ds}


def gate(job: str, context: dict) -> None:
    from caravan.pipeline.gates import gate_frame  # GX is heavy: only gate tasks import it
    from caravan.quality import curated
    from caravan.quality.frames import parquet_frame

    ds = partition_ds(context)
    partition = _output(job, ds)
    lake = Lake(get_settings().lake_url)
    suite = curated.SUITES[(partition.source, partition.entity)]
    paths = [path for path, _ in staged_parquet(lake, partition)]
    if not paths:
        raise FileNotFoundError(f"{job}: nothing staged for {partition}")
    gate_frame(suite, parquet_frame(lake, paths, suite.projection), ds, context["run_id"])
    # And against the raw partitions it was made from, where a reconciliation is defined.
    from caravan.quality import reconcile

    reconciliation = reconcile.RECONCILIATIONS.get((partition.source, partition.entity))
    if reconciliation is not None:
        suite, frame_of = reconciliation
        frame = frame_of(lake, ds, paths, get_settings().reporting_currency)
        gate_frame(suite, frame, ds, context["run_id"])


def publish(job: str, context: dict) -> dict:
    ds = partition_ds(context)
    partition = _output(job, ds)
    lake = Lake(get_settings().lake_url)
    staged = staged_parquet(lake, partition)
    import pyarrow.parquet as pq

    with lake.fs.open(staged[0][0], "rb") as handle:
        arrow_schema = pq.ParquetFile(handle).schema_arrow
    rows = sum(r for _, r in staged)
    quarantined = _publish_quarantine(lake, job, ds, context["run_id"])
    manifest = lake.publish(
        partition,
        staged,
        run_id=context["run_id"],
        delivered=rows + quarantined,
        quarantined=quarantined,
        schema={f.name: str(f.type) for f in arrow_schema},
        producer=f"{PRODUCER}.{job}",
    )
    log.info("published %s: %d rows, %d quarantined", partition, manifest.rows, quarantined)
    return {"job": job, "ds": ds, "rows": manifest.rows}


def _publish_quarantine(lake: Lake, job: str, ds: str, run_id: str) -> int:
    """Publish the rows a job set aside with their reason (e.g. spend without an FX rate);
    a rerun that sets none aside removes the old ones. Returns how many there are."""
    partition = Partition("quarantine", *JOB_OUTPUTS[job], ds)
    staged = staged_parquet(lake, partition)
    count = sum(r for _, r in staged)
    if count:
        log.warning("%s ds=%s: %d rows to quarantine (%s)", job, ds, count, lake.path(partition))
        lake.publish(
            partition,
            staged,
            run_id=run_id,
            delivered=count,
            quarantined=0,
            schema={"reason": "string"},
            producer=f"{PRODUCER}.{job}",
        )
    elif lake.read_manifest(partition) is not None:
        lake.clear(lake.path(partition))
    return count


def announce(asset, context: dict) -> None:
    ds = partition_ds(context)
    event = context["outlet_events"][asset]
    event.extra = {"ds": ds}
    event.add_partitions(ds)

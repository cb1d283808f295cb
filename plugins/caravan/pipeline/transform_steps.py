"""Steps of the `transform` DAG: Spark jobs into staged curated partitions, gated, published.

Plain functions of a job, its dates and a run id; the DAG file reads them at the edge.
`dates` is one `ds`, or many for a range run (a backfill: one Spark job over them all);
every partition of every date is gated before any is published, and each is published
whole with its manifest, as a one-day run publishes it.
"""

from __future__ import annotations

import importlib
import logging

from caravan import catalog
from caravan.lake import Lake, Partition
from caravan.settings import get_settings
from caravan.task_context import TaskRef

log = logging.getLogger(__name__)

PRODUCER = "caravan.transform"


def outputs(job: str, dates: list[str]) -> list[Partition]:
    """The job's curated partitions for `dates`, date by date."""
    return [
        Partition("curated", dataset.domain, dataset.name, ds)
        for ds in dates
        for dataset in catalog.jobs()[job]
    ]


def staged_parquet(lake: Lake, partition: Partition) -> list[tuple[str, int]]:
    """The Parquet files a job left in staging, with their row counts (from the footers)."""
    import pyarrow.parquet as pq

    files = []
    for path in sorted(lake.fs.glob(f"{lake.staging_path(partition)}/*.parquet")):
        with lake.fs.open(path, "rb") as handle:
            files.append((path, pq.ParquetFile(handle).metadata.num_rows))
    return files


def run_job(job: str, dates: list[str]) -> dict:
    """Run a Spark job in this process (local[*] or through Spark Connect): its one-day
    `run` for one date, its `run_range` (one Spark job per output) for several."""
    from spark_jobs.common.session import get_session

    settings = get_settings()
    lake = Lake(settings.lake_url)
    module = importlib.import_module(f"spark_jobs.{job}")
    spark = get_session(f"caravan-{job}", settings.spark_remote)
    if len(dates) == 1:
        module.run(spark, lake, dates[0])
    else:
        module.run_range(spark, lake, dates)
    for partition in outputs(job, dates):
        staged = staged_parquet(lake, partition)
        rows = sum(r for _, r in staged)
        log.info("%s: staged %s, %d rows in %d files", job, partition, rows, len(staged))
    return {"job": job, "dates": dates}


def gate(job: str, dates: list[str], run_id: str, task: TaskRef | None = None) -> None:
    """Every output of the job for every date, each against its suite and, where one is
    defined, against the partitions it was made from; all must pass before any is
    published. `task` (the gate's task) only names it in a warning alert."""
    from caravan.pipeline.gates import gate_batch, recording  # GX: only gate tasks import it
    from caravan.quality import curated, reconcile
    from caravan.quality.frames import parquet_batch

    lake = Lake(get_settings().lake_url)
    with recording():  # one connection for every result the task records
        for partition in outputs(job, dates):
            ds = partition.ds
            key = (partition.source, partition.entity)
            suite = curated.suite_for(catalog.curated_dataset(*key))
            staged = staged_parquet(lake, partition)
            if not staged:
                raise FileNotFoundError(f"{job}: nothing staged for {partition}")
            paths = [path for path, _ in staged]
            batch = parquet_batch(lake, paths, suite.projection, rows=sum(n for _, n in staged))
            gate_batch(suite, batch, ds, run_id, task)
            reconciliation = reconcile.RECONCILIATIONS.get(key)
            if reconciliation is not None:
                suite, frame_of = reconciliation
                gate_batch(suite, frame_of(lake, ds, paths), ds, run_id, task)


def publish(job: str, dates: list[str], run_id: str) -> dict:
    """Publish every gated partition of the job for `dates`, each with its manifest (and
    its quarantine, if the job set rows aside)."""
    import pyarrow.parquet as pq

    lake = Lake(get_settings().lake_url)
    published = {}
    for partition in outputs(job, dates):
        staged = staged_parquet(lake, partition)
        with lake.fs.open(staged[0][0], "rb") as handle:
            arrow_schema = pq.ParquetFile(handle).schema_arrow
        rows = sum(r for _, r in staged)
        quarantined = _publish_quarantine(lake, job, partition, run_id)
        manifest = lake.publish(
            partition,
            staged,
            run_id=run_id,
            delivered=rows + quarantined,
            quarantined=quarantined,
            schema={f.name: str(f.type) for f in arrow_schema},
            producer=f"{PRODUCER}.{job}",
        )
        log.info("published %s: %d rows, %d quarantined", partition, manifest.rows, quarantined)
        published[partition.relpath] = manifest.rows
    return {"job": job, "dates": dates, "rows": published}


def _publish_quarantine(lake: Lake, job: str, output: Partition, run_id: str) -> int:
    """Publish the rows a job set aside with their reason (e.g. spend without an FX rate);
    a rerun that sets none aside removes the old ones. Returns how many there are."""
    partition = Partition("quarantine", output.source, output.entity, output.ds)
    staged = staged_parquet(lake, partition)
    count = sum(r for _, r in staged)
    if count:
        log.warning("%s: %d rows to quarantine (%s)", job, count, lake.path(partition))
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

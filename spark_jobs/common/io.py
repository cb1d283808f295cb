"""Reading published partitions and writing staged ones, for one `ds` or many at once.

A job's frames carry, in a `ds` column, the output partition each row belongs to. `run`
computes them for one `ds`, `run_range` for many: the same transforms, which keep the
rows of different `ds` apart. `stage_days` then writes each `ds` where and as a one-day
run writes it, so a range run stages exactly what running each day in turn would.

Inputs are read in one scan per entity however many days they cover (the `ds` of each
row taken from its file's path), with an explicit schema, so that planning a read costs
no Spark job; a history of earlier days is the same scan, each row then serving every
output `ds` whose window holds its partition (`serve`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from caravan.lake import Lake, Manifest, Partition, date_range

MANIFEST = "_manifest.json"


class PartitionNotPublished(RuntimeError):
    pass


class HistoryGap(RuntimeError):
    pass


# -- dates -----------------------------------------------------------------------------


def check_dates(dates: Iterable[str]) -> list[str]:
    """The dates of a run, oldest first, each once; at least one, each a real date."""
    days = sorted(set(dates))
    if not days:
        raise ValueError("a run needs at least one ds")
    for day in days:
        try:
            Partition("raw", "-", "-", day)  # YYYY-MM-DD, and a real date
        except ValueError as error:
            raise ValueError(f"ds {day!r} is not a date written YYYY-MM-DD: {error}") from None
    return days


def days_before(ds: str, days: int) -> list[str]:
    """The `days` dates before `ds`, oldest first."""
    end = date.fromisoformat(ds)
    return [(end - timedelta(days=n)).isoformat() for n in range(days, 0, -1)]


def history_of(published: Iterable[str], where: str, ds: str, days: int) -> list[str]:
    """The published days (of `published`) among the `days` before `ds`, oldest first.

    History starts at the entity's first published partition: days before it are
    simply not there yet, but a day missing after it is a hole that would change the
    result, so it fails the job naming the missing days.
    """
    published = set(published)
    wanted = days_before(ds, days)
    first = min(published, default=ds)
    missing = [day for day in wanted if first <= day and day not in published]
    if missing:
        raise HistoryGap(
            f"{where}: ds={ds} reads the {days} days before it,"
            f" and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not published"
            " (run those days first)"
        )
    return [day for day in wanted if day in published]


def history(lake: Lake, zone: str, source: str, entity: str, ds: str, days: int) -> list[str]:
    """The published days of the `days` before `ds` that a job reads, oldest first."""
    published = lake.published_dates(zone, source, entity)
    return history_of(published, f"{lake.url}/{zone}/{source}/{entity}", ds, days)


def windows(
    lake: Lake, zone: str, source: str, entity: str, lookback: Mapping[str, int]
) -> dict[str, list[str]]:
    """For each output `ds`, the days it reads: the published ones of the `lookback[ds]`
    days before it (holes fail, as in `history`), then `ds` itself."""
    published = lake.published_dates(zone, source, entity)
    where = f"{lake.url}/{zone}/{source}/{entity}"
    return {ds: [*history_of(published, where, ds, days), ds] for ds, days in lookback.items()}


# -- reading ---------------------------------------------------------------------------


def published_files(
    lake: Lake, zone: str, source: str, entity: str, days: Iterable[str]
) -> dict[str, list[str]]:
    """Reader URLs of each day's published files (only those its manifest lists, each
    checked against it: `Lake.verified_files`).

    The manifests are fetched in one call (concurrently on a bucket); a day without
    one is not published and fails, naming every such day.
    """
    partitions = {day: Partition(zone, source, entity, day) for day in days}
    paths = {day: f"{lake.path(p)}/{MANIFEST}" for day, p in partitions.items()}
    found = lake.fs.cat(list(paths.values()), on_error="omit") if paths else {}
    found = {lake.fs._strip_protocol(path): text for path, text in found.items()}
    files, missing = {}, []
    for day, path in paths.items():
        text = found.get(lake.fs._strip_protocol(path))
        if text is None:
            missing.append(f"{lake.url}/{partitions[day].relpath}")
            continue
        files[day] = lake.verified_files(partitions[day], Manifest.from_json(text.decode()))
    if missing:
        raise PartitionNotPublished(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not published"
        )
    return files


def read_days(
    spark: SparkSession,
    lake: Lake,
    zone: str,
    source: str,
    entity: str,
    days: Iterable[str],
    schema: str,
) -> DataFrame:
    """Published partitions of several days in one scan, each row with its partition's
    `ds` (Spark's partition discovery reads it from the path below the entity's folder).

    Raw partitions are JSON lines, the others Parquet; `schema` names the columns read
    (an explicit schema: no job to infer one).
    """
    files_by_day = published_files(lake, zone, source, entity, days)
    files = [f for day in sorted(files_by_day) for f in files_by_day[day]]
    schema = f"{schema}, ds STRING"
    if not files:
        return spark.createDataFrame([], schema)
    base = lake.reader_url(f"{lake.root}/{zone}/{source}/{entity}")
    reader = spark.read.schema(schema).option("basePath", base)
    return reader.json(files) if zone == "raw" else reader.parquet(*files)


def read_raw_days(
    spark: SparkSession, lake: Lake, source: str, entity: str, days: list[str], schema: str
) -> DataFrame:
    """Published raw partitions of several days, each row tagged with its partition's `ds`."""
    return read_days(spark, lake, "raw", source, entity, days, schema)


def read_curated_days(
    spark: SparkSession, lake: Lake, domain: str, entity: str, days: list[str], schema: str
) -> DataFrame:
    """Published curated partitions of several days, each row tagged with its `ds`."""
    return read_days(spark, lake, "curated", domain, entity, days, schema)


def serve(frame: DataFrame, reads: Mapping[str, list[str]]) -> DataFrame:
    """Rows tagged with their partition's `ds`, once for every output `ds` that reads that
    partition (`reads`: output ds → the days it reads, as `windows` gives): the output's
    date goes in `ds`, the partition's in `partition_ds`.

    So a frame read once serves every day of a range exactly as each day's own run reads it.
    """
    served: dict[str, list[str]] = {}
    for ds, days in sorted(reads.items()):
        for day in days:
            served.setdefault(day, []).append(ds)
    frame = frame.withColumnRenamed("ds", "partition_ds")
    if len(reads) == 1:
        (ds,) = reads
        return frame.withColumn("ds", F.lit(ds))
    outputs = F.create_map(
        *[x for day, out in sorted(served.items()) for x in (F.lit(day), F.array(*map(F.lit, out)))]
    )
    return frame.withColumn("ds", F.explode(F.try_element_at(outputs, F.col("partition_ds"))))


def partition_keys(frame: DataFrame) -> list[str]:
    """["ds"] when the frame's rows carry their output partition (a run's frames), else []
    (a transform called on one day's frames, as the unit tests do)."""
    return ["ds"] if "ds" in frame.columns else []


def latest_per_key(
    frame: DataFrame, *keys: str, preferred: Column | None = None, version: str = "ds"
) -> DataFrame:
    """Each key's row from its latest partition (`version`): restated rows replace earlier
    ones. With `preferred` (a boolean column), the latest row where it is true wins over any
    where it is false. The `version` column is dropped.
    """
    order = [F.col(version).desc()]
    if preferred is not None:
        order.insert(0, preferred.desc())
    latest = Window.partitionBy(*keys).orderBy(*order)
    return (
        frame.withColumn("_latest", F.row_number().over(latest))
        .where(F.col("_latest") == 1)
        .drop("_latest", version)
    )


# -- writing ---------------------------------------------------------------------------


def write_staged(df: DataFrame, lake: Lake, partition: Partition) -> str:
    """Write a curated partition to staging as Parquet; the gate and publish come after."""
    path = lake.reader_url(lake.staging_path(partition))
    df.coalesce(1).write.mode("overwrite").parquet(path)
    return path


def stage_days(
    frame: DataFrame,
    lake: Lake,
    zone: str,
    domain: str,
    entity: str,
    dates: list[str],
    *,
    optional: bool = False,
) -> list[Partition]:
    """Stage each `ds` of `dates` (the frame's `ds` column) as its own partition:
    `staging/<zone>/<domain>/<entity>/ds=…/`, Parquet, without the `ds` column.

    One date: one file, as the one-day runs have always written it. Several: one Spark
    job, `partitionBy("ds")` with dynamic overwrite, one file per partition; every date's
    folder is cleared first, and a date without rows gets an empty file with the schema,
    as its one-day run would. An `optional` output (a quarantine) is written that way for
    one date too, and a date without rows gets no folder at all: no job is spent finding
    out whether there is anything to write.
    """
    partitions = [Partition(zone, domain, entity, ds) for ds in dates]
    if len(dates) == 1 and not optional:
        write_staged(frame.drop("ds"), lake, partitions[0])
        return partitions
    for partition in partitions:
        lake.clear(lake.staging_path(partition))
    base = f"{lake.root}/staging/{zone}/{domain}/{entity}"
    # One file per partition: every row of a ds in one task (one ds needs no shuffle).
    (
        (frame.coalesce(1) if len(dates) == 1 else frame.repartition("ds"))
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")  # only the dates written are replaced
        .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")  # no _SUCCESS
        .partitionBy("ds")
        .parquet(lake.reader_url(base))
    )
    if not optional:
        files = lake.fs.glob(f"{base}/ds=*/*.parquet")
        written = {path.split("/ds=")[-1].split("/")[0] for path in files}
        for partition in partitions:
            if partition.ds not in written:
                write_staged(frame.drop("ds").limit(0), lake, partition)
    return partitions


def main_args(argv: list[str] | None, description: str):
    """`--ds D [--end E] --lake URL [--remote URL]`; `dates` is D, or D … E for a range run."""
    import argparse

    from caravan.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ds", required=True, help="partition date, YYYY-MM-DD")
    parser.add_argument(
        "--end", help="last date of a range run (every ds from --ds to it, in one Spark job)"
    )
    parser.add_argument("--lake", default=settings.lake_url, help="lake URL")
    parser.add_argument("--remote", default=settings.spark_remote, help="Spark Connect URL")
    args = parser.parse_args(argv)
    args.dates = date_range(args.ds, args.end or args.ds)
    return args

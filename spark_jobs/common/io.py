"""Reading published raw partitions and writing staged curated ones."""

from __future__ import annotations

from datetime import date, timedelta
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from caravan.lake import Lake, Partition


class PartitionNotPublished(RuntimeError):
    pass


def read_raw(
    spark: SparkSession, lake: Lake, source: str, entity: str, ds: str, schema: str
) -> DataFrame:
    """A published raw partition (only the files its manifest lists), with an explicit schema."""
    partition = Partition("raw", source, entity, ds)
    files = lake.published_files(partition)
    if not files:
        raise PartitionNotPublished(f"{lake.url}/{partition.relpath} is not published")
    return spark.read.schema(schema).json(files)


class HistoryGap(RuntimeError):
    pass


def days_before(ds: str, days: int) -> list[str]:
    """The `days` dates before `ds`, oldest first."""
    end = date.fromisoformat(ds)
    return [(end - timedelta(days=n)).isoformat() for n in range(days, 0, -1)]


def history(lake: Lake, zone: str, source: str, entity: str, ds: str, days: int) -> list[str]:
    """The published days of the `days` before `ds` that a job reads, oldest first.

    History starts at the entity's first published partition: days before it are
    simply not there yet, but a day missing after it is a hole that would change the
    result, so it fails the job naming the missing days.
    """
    published = set(lake.published_dates(zone, source, entity))
    wanted = days_before(ds, days)
    first = min(published, default=ds)
    missing = [day for day in wanted if first <= day and day not in published]
    if missing:
        raise HistoryGap(
            f"{lake.url}/{zone}/{source}/{entity}: ds={ds} reads the {days} days before it,"
            f" and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not published"
            " (run those days first)"
        )
    return [day for day in wanted if day in published]


def read_raw_days(
    spark: SparkSession, lake: Lake, source: str, entity: str, days: list[str], schema: str
) -> DataFrame:
    """Published raw partitions of several days, each row tagged with its partition's `ds`."""
    frames = [
        read_raw(spark, lake, source, entity, day, schema).withColumn("ds", F.lit(day))
        for day in days
    ]
    return reduce(DataFrame.unionByName, frames)


def read_curated_days(
    spark: SparkSession, lake: Lake, domain: str, entity: str, days: list[str]
) -> DataFrame:
    """Published curated partitions of several days, each row tagged with its `ds`."""
    frames = []
    for day in days:
        partition = Partition("curated", domain, entity, day)
        files = lake.published_files(partition)
        if not files:
            raise PartitionNotPublished(f"{lake.url}/{partition.relpath} is not published")
        frames.append(spark.read.parquet(*files).withColumn("ds", F.lit(day)))
    return reduce(DataFrame.unionByName, frames)


def latest_per_key(frame: DataFrame, *keys: str, preferred: F.Column | None = None) -> DataFrame:
    """Each key's row from its latest partition (`ds`): restated rows replace earlier ones.

    With `preferred` (a boolean column), the latest row where it is true wins over any
    where it is false.
    """
    order = [F.col("ds").desc()] if preferred is None else [preferred.desc(), F.col("ds").desc()]
    latest = Window.partitionBy(*keys).orderBy(*order)
    return (
        frame.withColumn("_latest", F.row_number().over(latest))
        .where(F.col("_latest") == 1)
        .drop("_latest", "ds")
    )


def write_staged(df: DataFrame, lake: Lake, partition: Partition) -> str:
    """Write a curated partition to staging as Parquet; the gate and publish come after."""
    path = lake.reader_url(lake.staging_path(partition))
    df.coalesce(1).write.mode("overwrite").parquet(path)
    return path


def main_args(argv: list[str] | None, description: str):
    import argparse

    from caravan.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ds", required=True, help="partition date, YYYY-MM-DD")
    parser.add_argument("--lake", default=settings.lake_url, help="lake URL")
    parser.add_argument("--remote", default=settings.spark_remote, help="Spark Connect URL")
    return parser.parse_args(argv)

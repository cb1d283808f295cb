"""Reading published raw partitions and writing staged curated ones."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

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

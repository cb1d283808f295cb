"""The Spark session: in-process `local[*]` by default, Spark Connect when a remote is set."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

# HotSpot's quick compiler only (no C2): the local session's JVM starts and warms up on
# about half the CPU (get_session).
C1_ONLY = "-XX:TieredStopAtLevel=1"
# Spark's classes as a local JVM loads them for a job, parsed and verified once (HotSpot's
# dynamic class data sharing; `make setup` runs build_class_archive) and mapped by every
# local JVM after: its start and first job take about 40 % less CPU (bench/README.md). It
# is this environment's: it holds the classes of this pyspark's jars for this Java.
CLASS_ARCHIVE = Path(sys.prefix, "share", "caravan", "spark-classes.jsa")


class JavaNotFound(RuntimeError):
    pass


def require_java() -> str:
    """The java binary Spark will start, or a clear error saying how to get one."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise JavaNotFound(
            "Spark needs Java 17 or newer and none was found"
            + (f" (JAVA_HOME={java_home} has no bin/java)" if java_home else " on PATH")
            + ". Install it (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`;"
            " macOS: `brew install openjdk@17`) or set JAVA_HOME."
        )
    return java


def get_session(
    app_name: str = "caravan", remote: str | None = None, *, full_jit: bool = False
) -> SparkSession:
    """A session for `remote` (a Spark Connect URL), the one spark-submit started, or a
    local one; reused within a process.

    The local JVM compiles with C1 only unless `full_jit`: on the days of the embedded
    default, C2's optimising compiles cost more CPU than they save (a demo week's five
    jobs: 23.3 → 16.9 s, the JVM's CPU time 69 → 34 s; bench/README.md). `full_jit` is
    for the scale-factor benchmarks, whose months are big enough for C2 to pay. Either maps
    Spark's class archive (CLASS_ARCHIVE) once `make setup` has built it."""
    builder = SparkSession.builder.appName(app_name)
    if remote:
        session = builder.remote(remote).getOrCreate()
        session.conf.set("spark.sql.session.timeZone", "UTC")  # jobs read timestamps as UTC
        return session
    builder = job_settings(builder)
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # Under spark-submit: the master and resources are its (--master, --conf); a
        # master set here would override them and run the job locally in the driver.
        return builder.getOrCreate()
    options = [] if full_jit else [C1_ONLY]
    if CLASS_ARCHIVE.exists():  # HotSpot ignores, with a warning, one of another JVM
        options.append(f"-XX:SharedArchiveFile={CLASS_ARCHIVE}")
    return local_session(builder, options)


def job_settings(builder: SparkSession.Builder) -> SparkSession.Builder:
    """What the jobs need of any session they run in."""
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.ansi.enabled", "true")
    )


def local_session(builder: SparkSession.Builder, java_options: list[str]) -> SparkSession:
    """`builder`'s session in a JVM of this process with the local settings."""
    require_java()
    # Python workers must run this interpreter (this venv), not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    logging.getLogger("py4j").setLevel(logging.WARNING)  # gateway chatter, at exit too
    if java_options:
        # Spark splits the value as a shell would: a path with a space keeps its quotes.
        quoted = [f'"{option}"' if " " in option else option for option in java_options]
        builder = builder.config("spark.driver.extraJavaOptions", " ".join(quoted))
    return (
        builder.master("local[*]")
        .config("spark.sql.shuffle.partitions", "4")
        # A day is small: compiling each query's stages to Java (Janino) costs about what
        # the generated code saves. Measured (bench/README.md): the demo's week of
        # transforms about 5 % faster without it, SF1 (one-day and range runs) no slower.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )


def warm_up(spark: SparkSession) -> int:
    """One small job through what the transforms use: a JSON lines scan with a schema,
    decimal arithmetic, a window, a join, an aggregate, a partitioned Parquet write with
    dynamic overwrite and a Parquet scan, in a temporary folder.

    A new JVM loads and compiles all of that on its first job, about 8 s on two cores
    (bench/README.md); started ahead (caravan.runner.spark_started_early), it happens on
    the core the ingest DAGs leave idle instead of in the first transform task.
    """
    with tempfile.TemporaryDirectory(prefix="caravan-spark-warm-up-") as folder:
        source = Path(folder, "in.jsonl")
        source.write_text(
            "".join(
                f'{{"key": "k{n % 3}", "amount": "{n}.25", "at": "2026-01-0{n % 2 + 1}T10:00:00Z",'
                f' "tags": [{{"name": "t", "value": "{n}"}}]}}\n'
                for n in range(6)
            )
        )
        rows = (
            spark.read.schema(
                "key STRING, amount STRING, at STRING,"
                " tags ARRAY<STRUCT<name: STRING, value: STRING>>"
            )
            .json(str(source))
            .withColumn("amount", F.col("amount").cast("decimal(18,2)"))
            .withColumn("at", F.to_timestamp("at"))
            .withColumn("ds", F.date_format("at", "yyyy-MM-dd"))
            .withColumn("tag", F.explode_outer("tags"))
        )
        latest = Window.partitionBy("key").orderBy(F.col("at").desc())
        totals = rows.groupBy("key", "ds").agg(
            F.sum("amount").alias("total"), F.count("*").alias("n")
        )
        joined = (
            rows.withColumn("rank", F.row_number().over(latest))
            .join(totals, ["key", "ds"], "left")
            .select("key", "ds", "amount", "total", "rank", F.col("tag.value").alias("tag"))
        )
        target = str(Path(folder, "out"))
        (
            joined.repartition("ds")
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy("ds")
            .parquet(target)
        )
        return spark.read.parquet(target).where(F.col("rank") == 1).count()  # a row per key


def build_class_archive(archive: Path = CLASS_ARCHIVE) -> None:
    """Writes `archive`: the classes a local JVM loads through warm_up, dumped by HotSpot
    as that JVM exits (`-XX:ArchiveClassesAtExit`, Java 13 and later).

    Run in a process of its own (`make setup`): the session's JVM must exit, which it does
    when this process closes its standard input. It writes under another name and renames:
    a JVM that maps a partly written archive crashes (SIGBUS), while one already running
    keeps the archive it mapped."""
    from pyspark import SparkContext

    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    # Dumping skips classes it cannot share (signed jars, generated ones), a warning each.
    options = [C1_ONLY, f"-XX:ArchiveClassesAtExit={partial}", "-Xlog:cds*=error"]
    builder = job_settings(SparkSession.builder.appName("caravan-class-archive"))
    spark = local_session(builder, options)
    try:
        warm_up(spark)
    finally:
        spark.stop()
        jvm = SparkContext._gateway.proc  # the JVM pyspark started for this process
        SparkContext._gateway.shutdown()
        jvm.stdin.close()
        code = jvm.wait(timeout=300)
    if code != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the JVM that dumps {archive} exited with {code}")
    partial.replace(archive)


if __name__ == "__main__":
    build_class_archive()
    print(f"Spark's class archive: {CLASS_ARCHIVE} ({CLASS_ARCHIVE.stat().st_size >> 20} MB)")

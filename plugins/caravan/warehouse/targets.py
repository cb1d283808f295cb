"""The warehouse `CARAVAN_TARGET` names, behind the operations the warehouse DAG and the
gates need: load a curated partition into `landing`, give a mart's gate its batch (a
frame, or on Snowflake a query GX runs there), publish the marts to `analytics`, record
every gate's results in `quality.validation_results`.

One class per backend module (`duckdb.DuckDBWarehouse`, `snowflake.SnowflakeWarehouse`,
`bigquery.BigQueryWarehouse`), each built from the settings. Light to import (DAG files
may): a backend's module, and its client, are imported only when that target is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from caravan.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from caravan.lake import Lake
    from caravan.quality.batches import SqlBatch
    from caravan.quality.results import GateResult


class Warehouse(Protocol):
    def landing_table(self, domain: str, entity: str) -> str: ...

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int: ...

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame: ...

    def mart_batch(self, table: str, projection: str) -> pd.DataFrame | SqlBatch:
        """What a marts gate validates: a frame, or a query GX runs in the warehouse."""
        ...

    def publish_analytics(self, marts: tuple[str, ...]) -> None: ...

    def record_validation_results(self, result: GateResult) -> None:
        """Append a gate's rows to `quality.validation_results`, replacing the same checks
        of an earlier attempt of the same run, in one transaction."""
        ...

    def recording(self) -> AbstractContextManager[None]:
        """A gate task's span: the results recorded inside may share one connection."""
        ...


def duckdb_warehouse(path: Path) -> Warehouse:
    """The DuckDB warehouse in the file `path`."""
    from caravan.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(Path(path))


def _duckdb(settings: Settings) -> Warehouse:
    return duckdb_warehouse(settings.warehouse_path)


def _snowflake(settings: Settings) -> Warehouse:
    from caravan.warehouse.snowflake import SnowflakeWarehouse

    return SnowflakeWarehouse.from_settings(settings)  # reads the Airflow connection


def _bigquery(settings: Settings) -> Warehouse:
    from caravan.warehouse.bigquery import BigQueryWarehouse

    return BigQueryWarehouse.from_settings(settings)


# Target name -> how to build it from the settings (settings.TARGETS names the same three).
_WAREHOUSES: dict[str, Callable[[Settings], Warehouse]] = {
    "duckdb": _duckdb,
    "snowflake": _snowflake,
    "bigquery": _bigquery,
}


def warehouse(settings: Settings) -> Warehouse:
    """The warehouse `CARAVAN_TARGET` names. On Snowflake this reads the Airflow connection:
    call it in a task, never at DAG parse time."""
    return _WAREHOUSES[settings.target](settings)

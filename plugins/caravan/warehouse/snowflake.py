"""The Snowflake warehouse: curated partitions staged and COPYed into `landing`, marts
published to `analytics` in one transaction.

Tested against a fakesnow server (tests/caravan/warehouse/test_snowflake.py); where
fakesnow and Snowflake differ, the SQL here is the formulation both accept
(docs/warehouse.md, "Known fakesnow gaps").
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa

from caravan.lake import Lake, Partition
from caravan.quality.batches import SqlBatch
from caravan.quality.results import RESULT_COLUMNS, RESULTS_SCHEMA, RESULTS_TABLE, GateResult
from caravan.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

# Files PUT from a lake on file:// (or copied down from a bucket) go through this stage.
UPLOAD_STAGE = "landing.caravan_upload"
# A lake on gs:// is read in place through an external stage on the bucket.
LAKE_STAGE = "landing.caravan_lake"
# Options both Snowflake and fakesnow accept: match Parquet columns to the table's by
# name, load files even if loaded before (a rerun of the same ds loads the same files).
COPY_OPTIONS = (
    "file_format = (type = parquet use_logical_type = true)"
    " match_by_column_name = case_insensitive force = true"
)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class SnowflakeConnection:
    """What Caravan needs from an Airflow `snowflake` connection.

    login = user, password (or extra `private_key_file`), schema; extra `account`,
    `database`, `warehouse`, `role`; host, port and extra `protocol` only to point at
    something else than `<account>.snowflakecomputing.com` (a fakesnow server in tests).
    """

    account: str
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    warehouse: str | None = None
    role: str | None = None
    schema: str = "main"
    host: str | None = None
    port: int | None = None
    protocol: str = "https"

    @classmethod
    def from_connection(cls, conn: Any) -> SnowflakeConnection:
        extra = conn.extra_dejson

        def pick(name: str) -> Any:
            # The Snowflake provider's form (`extra__snowflake__account`) or the plain one.
            return extra.get(name) or extra.get(f"extra__snowflake__{name}") or None

        missing = [
            name
            for name, value in (
                ("extra account", pick("account")),
                ("login", conn.login),
                ("extra database", pick("database")),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"Snowflake connection {conn.conn_id!r}: {', '.join(missing)} empty")
        port = conn.port or pick("port")
        return cls(
            account=pick("account"),
            user=conn.login,
            database=pick("database"),
            password=conn.password or None,
            private_key_file=pick("private_key_file"),
            warehouse=pick("warehouse"),
            role=pick("role"),
            schema=conn.schema or "main",
            host=conn.host or pick("host"),
            port=int(port) if port else None,
            protocol=pick("protocol") or "https",
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `snowflake.connector.connect`."""
        kwargs = {
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "private_key_file": self.private_key_file,
            "database": self.database,
            "schema": self.schema,
            "warehouse": self.warehouse,
            "role": self.role,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol if self.host else None,
        }
        return {name: value for name, value in kwargs.items() if value is not None}


@dataclass(frozen=True)
class SnowflakeWarehouse:
    """A connection per operation: a task holds none between its steps."""

    connection: SnowflakeConnection
    storage_integration: str | None = None
    # Bounds the connector's retries of a request the server answered with an HTTP error
    # (fakesnow answers 500 to SQL it cannot run).
    network_timeout: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SnowflakeWarehouse:
        """Read when used (in a task), never at DAG parse time: Airflow's lookup finds the
        connection in `AIRFLOW_CONN_<ID>`, its metadata database or a secrets backend."""
        from airflow.sdk import Connection

        return cls(
            SnowflakeConnection.from_connection(Connection.get(settings.snowflake_conn_id)),
            settings.snowflake_storage_integration,
        )

    @contextmanager
    def connect(self) -> Iterator[Any]:
        import snowflake.connector

        kwargs = {"network_timeout": self.network_timeout} if self.network_timeout else {}
        con = snowflake.connector.connect(**self.connection.connect_kwargs(), **kwargs)
        try:
            yield con
        finally:
            con.close()

    def landing_table(self, domain: str, entity: str) -> str:
        """`curated/<domain>/<entity>` lands in `landing.<domain>__<entity>`."""
        return f"landing.{domain}__{entity}"

    def load_partition(self, lake: Lake, domain: str, entity: str, ds: str) -> int:
        """Replace one `ds` of a landing table with the published curated partition.

        Only the files its manifest lists are loaded. The delete, the COPY and the `ds`
        column filled after it are one transaction: readers see the old rows or the new
        ones, never both or none. (COPY leaves `ds`, which no file has, NULL.)
        """
        partition = Partition("curated", domain, entity, ds)
        manifest, files = lake.published(partition)
        table = self.landing_table(domain, entity)
        schema = _parquet_schema(lake, files[0])

        def check_rows(loaded: int) -> None:
            lake.check_rows(partition, manifest, loaded, f"the COPY into {table}")

        with self.connect() as con:
            cursor = con.cursor()
            cursor.execute("create schema if not exists landing")
            self._ensure_table(cursor, table, landing_columns(schema, f"{partition}/{files[0]}"))
            if lake.is_local or not self.storage_integration:
                with lake.local_files(files) as local:
                    source = self._put_files(cursor, local, f"{domain}__{entity}/{ds}")
                    copy = f"copy into {table} from {source} {COPY_OPTIONS}"
                    return self._replace_ds(cursor, table, ds, copy, check_rows)
            self._create_lake_stage(cursor, lake)
            copy = external_copy_sql(table, partition, files)
            return self._replace_ds(cursor, table, ds, copy, check_rows)

    def _ensure_table(self, cursor: Any, table: str, columns: list[tuple[str, str]]) -> None:
        """Create the table on first load; add the columns a later partition brings (DDL
        commits in Snowflake, so this runs before the load's transaction)."""
        cursor.execute(create_table_sql(table, columns))
        schema, name = table.upper().split(".")
        cursor.execute(
            "select lower(column_name) from information_schema.columns"
            " where table_schema = %s and table_name = %s",
            (schema, name),
        )
        existing = {row[0] for row in cursor.fetchall()}
        for column, column_type in columns:
            if column not in existing:
                cursor.execute(f"alter table {table} add column {column} {column_type}")

    def _put_files(self, cursor: Any, local: list[str], path: str) -> str:
        """PUT the files into a folder of the upload stage no other load uses, so COPY takes
        exactly them; COPY's `purge` empties it again. (No `key=value` in the folder's path:
        fakesnow's DuckDB would read it as a column, `ds=…` as a `ds` Snowflake never gives.)"""
        folder = f"@{UPLOAD_STAGE}/{path}/{uuid.uuid4().hex}/"
        cursor.execute(f"create stage if not exists {UPLOAD_STAGE}")
        for file in local:
            cursor.execute(f"put 'file://{file}' {folder} auto_compress = false overwrite = true")
        return f"{folder} purge = true"

    def _create_lake_stage(self, cursor: Any, lake: Lake) -> None:
        """An external stage on the lake's bucket (Snowflake names GCS URLs `gcs://`)."""
        url = urlsplit(lake.url)
        if url.scheme not in ("gs", "gcs"):
            raise ValueError(
                f"CARAVAN_LAKE_URL={lake.url}: an external stage reads gs:// lakes only"
            )
        cursor.execute(
            f"create stage if not exists {LAKE_STAGE} url = 'gcs://{url.netloc}{url.path}/'"
            f" storage_integration = {self.storage_integration}"
        )

    def _replace_ds(self, cursor: Any, table: str, ds: str, copy: str, check_rows) -> int:
        """Delete the day, COPY it again and count it in one transaction, committed only when
        `check_rows` accepts the count."""
        cursor.execute("begin")
        try:
            cursor.execute(f"delete from {table} where ds = %s", (ds,))
            cursor.execute(copy)
            cursor.execute(f"update {table} set ds = %s where ds is null", (ds,))
            cursor.execute(f"select count(*) from {table} where ds = %s", (ds,))
            loaded = cursor.fetchone()[0]
            check_rows(loaded)
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
        return loaded

    def mart_frame(self, table: str, projection: str) -> pd.DataFrame:
        """A mart as built (in `marts`, before publishing), projected for its gate.

        Column names come back lower case, as the suites name them (Snowflake folds unquoted
        names to upper case); decimals come as floats, as DuckDB gives them to the gates
        (the connector gives floats or Decimal objects, depending on how the server encodes
        them).
        """
        from decimal import Decimal

        with self.connect() as con:
            cursor = con.cursor()
            cursor.execute(f"select {projection} from marts.{table} as source_rows")
            frame = cursor.fetch_pandas_all()
        frame.columns = [column.lower() for column in frame.columns]
        for column in frame.columns:
            values = frame[column].dropna()
            if len(values) and values.map(lambda value: isinstance(value, Decimal)).all():
                frame[column] = frame[column].astype("float64")
        return frame

    def mart_batch(self, table: str, projection: str) -> SqlBatch:
        """A mart's gate query, for GX's SQL engine to run in Snowflake (no rows come back).

        SQLAlchemy's `snowflake` dialect gets the connector's own arguments, password
        included, as `connect_args`: the URL carries nothing, so no secret is ever in one.
        """
        connect_args = self.connection.connect_kwargs()
        if self.network_timeout:
            connect_args["network_timeout"] = self.network_timeout
        return SqlBatch(
            connection_string="snowflake://",
            query=f"select {projection} from marts.{table} as source_rows",
            connect_args=connect_args,
        )

    def publish_analytics(self, marts: tuple[str, ...]) -> None:
        """Copy the gated marts into `analytics` in one transaction: all or nothing.

        Snowflake commits before and after every DDL statement, so `create or replace table`
        per mart would publish them one by one; and fakesnow has neither `alter schema …
        swap with` nor `alter table … swap with`. DML is transactional on both: the rows of
        every analytics table are replaced in one transaction. A mart whose columns changed
        (or a first publish) needs its analytics table (re)created first, which switches
        that table on its own, with the new rows already in it.
        """
        with self.connect() as con:
            cursor = con.cursor()
            columns = {mart: self._columns(cursor, "MARTS", mart) for mart in marts}
            missing = [mart for mart, found in columns.items() if not found]
            if missing:  # before anything changes
                raise LookupError(f"marts.{', marts.'.join(missing)} not found: nothing published")
            cursor.execute("create schema if not exists analytics")
            for mart in marts:
                if self._columns(cursor, "ANALYTICS", mart) != columns[mart]:
                    cursor.execute(
                        f"create or replace table analytics.{mart} as select * from marts.{mart}"
                    )
            cursor.execute("begin")
            try:
                for mart in marts:
                    names = ", ".join(name for name, *_ in columns[mart])
                    cursor.execute(f"delete from analytics.{mart}")
                    cursor.execute(
                        f"insert into analytics.{mart} ({names}) select {names} from marts.{mart}"
                    )
                cursor.execute("commit")
            except BaseException:
                cursor.execute("rollback")
                raise

    def _columns(self, cursor: Any, schema: str, table: str) -> list[tuple]:
        cursor.execute(
            "select lower(column_name), data_type, numeric_precision, numeric_scale"
            " from information_schema.columns where table_schema = %s and table_name = %s"
            " order by ordinal_position",
            (schema, table.upper()),
        )
        return [tuple(row) for row in cursor.fetchall()]

    def record_validation_results(self, result: GateResult) -> None:
        """Append a gate's rows to `quality.validation_results`, replacing the same checks of
        an earlier attempt of the same run (as the DuckDB warehouse does), in one transaction.

        The schema and table are created first: DDL commits on its own in Snowflake.
        """
        run = result.run_key()
        names = [name for name, _ in RESULT_COLUMNS]
        checks = result.check_keys()
        with self.connect() as con:
            cursor = con.cursor()
            cursor.execute(f"create schema if not exists {RESULTS_SCHEMA}")
            cursor.execute(
                create_table_sql(
                    RESULTS_TABLE, [(name, _RESULT_TYPES[kind]) for name, kind in RESULT_COLUMNS]
                )
            )
            cursor.execute("begin")
            try:
                for check in checks:
                    cursor.execute(
                        f"delete from {RESULTS_TABLE} where stage = %s and source = %s"
                        " and entity = %s and ds = %s and run_id = %s and expectation = %s"
                        " and kwargs is not distinct from %s",
                        (*run, *check),
                    )
                if result.rows:
                    cursor.executemany(
                        f"insert into {RESULTS_TABLE} ({', '.join(names)})"
                        f" values ({', '.join('%s' for _ in names)})",
                        [tuple(row[name] for name in names) for row in result.rows],
                    )
                cursor.execute("commit")
            except BaseException:
                cursor.execute("rollback")
                raise

    def recording(self) -> AbstractContextManager[None]:
        return nullcontext()  # a connection per result: no file to open and checkpoint


# quality.validation_results' DuckDB column types (results.RESULT_COLUMNS) in Snowflake.
_RESULT_TYPES = {
    "VARCHAR": "varchar",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "BIGINT": "number(38, 0)",
    "TIMESTAMP": "timestamp_ntz",
}


def snowflake_type(arrow_type: pa.DataType) -> str:
    """The Snowflake column type a curated Parquet column loads into."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "varchar"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "number(38, 0)"
    if pa.types.is_decimal(arrow_type):
        return f"number({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp_tz" if arrow_type.tz else "timestamp_ntz"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "array"
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return "object"
    if pa.types.is_binary(arrow_type):
        return "binary"
    raise ValueError(f"no Snowflake type for Parquet type {arrow_type}")


def landing_columns(schema: pa.Schema, where: str) -> list[tuple[str, str]]:
    """(name, Snowflake type) per Parquet column, then `ds`, the partition's date."""
    columns = []
    for column in schema:
        if not _IDENTIFIER.fullmatch(column.name):
            raise ValueError(f"{where}: column {column.name!r} is not a lower-case identifier")
        if column.name != "ds":
            columns.append((column.name, snowflake_type(column.type)))
    return [*columns, ("ds", "date")]


def create_table_sql(table: str, columns: list[tuple[str, str]]) -> str:
    return f"create table if not exists {table} ({', '.join(f'{n} {t}' for n, t in columns)})"


def external_copy_sql(table: str, partition: Partition, files: list[str]) -> str:
    """COPY of exactly the manifest's files, read in place through the lake's stage."""
    names = ", ".join(f"'{posixpath.basename(file)}'" for file in files)
    return (
        f"copy into {table} from @{LAKE_STAGE}/{partition.relpath}/"
        f" files = ({names}) {COPY_OPTIONS}"
    )


def _parquet_schema(lake: Lake, path: str) -> pa.Schema:
    import pyarrow.parquet as pq

    with lake.fs.open(path, "rb") as handle:
        return pq.read_schema(handle)

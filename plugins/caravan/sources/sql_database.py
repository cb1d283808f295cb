"""The `sql_database` kind: dlt's `sql_table` over any SQLAlchemy URL (SQLite, Postgres, ...).

A data-interval entity is read through dlt's incremental window on its
incremental field, `[first day 00:00, day after ds 00:00)`; a snapshot is the
whole table, or with `as_of_field` the rows that existed at the end of ds, so
that rerunning an old day reads what that day saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from caravan.sources import Delivered, SourceError, configure_dlt
from caravan.sources.registry import EntitySpec, SourceSpec
from caravan.sources.window import Window

# Airflow's connection types whose URI scheme SQLAlchemy names otherwise (with the driver
# Caravan installs).
SQLALCHEMY_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


def url_from_connection(conn: Any) -> str:
    """The SQLAlchemy URL of an Airflow connection: extra `sqlalchemy_url`, else its URI."""
    url = conn.extra_dejson.get("sqlalchemy_url")
    if url:
        return url
    if conn.conn_type == "sqlite":  # Airflow keeps the file's path in host
        return f"sqlite:///{conn.host}"
    scheme, rest = conn.get_uri().split("://", 1)
    return f"{SQLALCHEMY_SCHEMES.get(scheme, scheme)}://{rest}"


def deliveries(
    source: SourceSpec, entity: EntitySpec, url: str, window: Window
) -> Iterator[Delivered]:
    """The entity's rows for the window, in primary-key order, as JSON-ready dicts."""
    configure_dlt()
    import dlt
    import sqlalchemy as sa
    from dlt.sources.sql_database import sql_table

    table = entity.table or entity.name
    incremental = None
    if entity.window == "data_interval" and entity.incremental_field:
        incremental = dlt.sources.incremental(
            entity.incremental_field,
            initial_value=window.start_at.replace(tzinfo=None),
            end_value=window.end_at.replace(tzinfo=None),
            range_start="closed",
            range_end="open",
        )

    def as_of_end_of_day(query, table_object):
        if entity.window == "snapshot" and entity.as_of_field:
            query = query.where(
                table_object.c[entity.as_of_field] < window.end_at.replace(tzinfo=None)
            )
        return query.order_by(*table_object.primary_key.columns)

    where = f"{source.name}/{entity.name}"
    engine = None
    try:
        engine = sa.create_engine(url)
        resource = sql_table(  # reflects the table now: a missing one fails here
            credentials=engine,
            table=table,
            incremental=incremental,
            query_adapter_callback=as_of_end_of_day,
            reflection_level="full_with_precision",
        )
        count = 0
        for row in _rows(resource):
            count += 1
            yield Delivered(
                {key: _as_json(value) for key, value in row.items()}, f"table {table} row {count}"
            )
    except Exception as error:  # dlt wraps what SQLAlchemy raised
        cause = error.__cause__ or error
        shown = engine.url.render_as_string(hide_password=True) if engine else "its URL"
        raise SourceError(
            f"{where}: reading table {table!r} from {shown} failed: {cause!r}"
        ) from error
    finally:
        if engine is not None:
            engine.dispose()


def _rows(resource) -> Iterator[dict]:
    """dlt yields rows one by one or in chunks, depending on the backend."""
    for item in resource:
        if isinstance(item, list):
            yield from item
        else:
            yield item


def _as_json(value: Any) -> Any:
    """Values as the raw zone keeps them: exact decimals as strings, ISO timestamps."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value

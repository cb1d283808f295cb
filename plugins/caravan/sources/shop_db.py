"""The shop's OLTP database, read with SQLAlchemy (SQLite by default, any URL at scale)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

# Airflow's connection types whose URI scheme SQLAlchemy names otherwise (with the driver
# Caravan installs).
SQLALCHEMY_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


def url_from_connection(conn: Any) -> str:
    """The SQLAlchemy URL of an Airflow connection: extra `sqlalchemy_url`, else its URI."""
    url = conn.extra_dejson.get("sqlalchemy_url")
    if url:
        return url
    scheme, rest = conn.get_uri().split("://", 1)
    return f"{SQLALCHEMY_SCHEMES.get(scheme, scheme)}://{rest}"


def extract(
    url: str, table: str, ds: str, *, incremental_field: str | None, lookback_days: int = 0
) -> Iterator[dict]:
    """Rows of `table`: those whose `incremental_field` falls on ds (minus lookback) when
    given, else the whole table as of the end of ds (a snapshot)."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        source = sa.Table(table, meta, autoload_with=engine)
        day = date.fromisoformat(ds)
        end = datetime.combine(day + timedelta(days=1), time())
        query = sa.select(source)
        if incremental_field:
            start = datetime.combine(day - timedelta(days=lookback_days), time())
            column = source.c[incremental_field]
            query = query.where(column >= start, column < end)
        elif "created_at" in source.c:
            query = query.where(source.c.created_at < end)
        query = query.order_by(*source.primary_key.columns)
        with engine.connect() as connection:
            for row in connection.execute(query).mappings():
                yield {key: _as_json(value) for key, value in row.items()}
    finally:
        engine.dispose()


def _as_json(value: Any) -> Any:
    """Values as the raw zone keeps them: exact decimals as strings, ISO timestamps."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value

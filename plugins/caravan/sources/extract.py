"""From a registry entry and its Airflow connection to the records of one run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from caravan.sources import Delivered
from caravan.sources.registry import EntitySpec, SourceSpec
from caravan.sources.window import Window


def deliveries(source: SourceSpec, entity: EntitySpec, conn: Any, ds: str) -> Iterator[Delivered]:
    """What `source` delivers for `entity` in the run of `ds`, read the way its kind says."""
    return window_deliveries(source, entity, conn, Window.for_run(source, entity, ds))


def window_deliveries(
    source: SourceSpec, entity: EntitySpec, conn: Any, window: Window
) -> Iterator[Delivered]:
    """What `source` delivers for `entity` over any window (a day's run, a history load)."""
    if source.kind == "rest_api":
        from caravan.sources import rest_api

        return rest_api.deliveries(
            source, entity, rest_api.RestConnection.from_connection(conn), window
        )
    if source.kind == "sql_database":
        from caravan.sources import sql_database

        return sql_database.deliveries(
            source, entity, sql_database.url_from_connection(conn), window
        )
    if source.kind == "file_drop":
        from caravan.sources import file_drop

        return file_drop.deliveries(source, entity, file_drop.folder_from_connection(conn), window)
    raise ValueError(f"source {source.name!r}: no extractor for kind {source.kind!r}")

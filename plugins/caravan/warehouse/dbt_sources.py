"""`caravan dbt-source <source>`: a registry source's dbt source and staging models.

For each entity declared `landing: true`, the warehouse holds a typed table
`landing.<source>__<entity>` (caravan.sources.landing). This writes, into
`dbt_project/models/staging/<source>/`, what dbt needs to use it, for the team to own and
extend like any hand-written model:

- `_<source>__sources.yml`: the source (schema `landing`), a table per entity with its
  columns, their types and the registry's description; the key not null;
- `stg_<source>__<entity>.sql`: a view renaming nothing yet and keeping one row per key
  (the latest `ds`: a snapshot or a re-read day repeats a key across days), or every row
  of an entity without a unique key;
- `_<source>__models.yml`: the staging models, their key tested unique and not null.

The columns are the latest typed partition's (every field delivered so far), or, before
one is published, the fields the registry names. Existing files are left alone unless
`force`: once written they are the team's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from caravan.lake import Lake, Partition
from caravan.sources.landing import arrow_type, column_for, landing_fields
from caravan.sources.registry import EntitySpec, SourceSpec

# Parquet's types (as a typed partition's manifest names them) in dbt's portable words.
_SQL_TYPES = {
    "string": "varchar",
    "int64": "bigint",
    "double": "double",
    "bool": "boolean",
    "date32[day]": "date",
    "timestamp[us, tz=UTC]": "timestamp",
}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    field: str | None  # the delivered field it holds, when the registry names it


def sql_type(arrow: str) -> str:
    """A manifest's Arrow type as dbt's `data_type` (`decimal128(12, 2)` → `decimal(12,2)`)."""
    if arrow.startswith("decimal128("):
        return "decimal(" + arrow[len("decimal128(") :].replace(" ", "")
    return _SQL_TYPES.get(arrow, arrow)


def registry_columns(entity: EntitySpec) -> list[Column]:
    """The columns the registry alone tells: its named fields, typed as declared."""
    return [
        Column(column, sql_type(str(arrow_type(entity.types.get(field)))), field)
        for column, field in landing_fields(entity, []).items()  # the typed copy's own
    ]


def partition_columns(schema: dict[str, str]) -> list[Column]:
    """The columns of a published typed partition (its manifest's schema, in order)."""
    return [Column(name, sql_type(arrow), None) for name, arrow in schema.items()]


@lru_cache(maxsize=1)
def _keyword_categories() -> dict[str, str]:
    import duckdb  # the embedded warehouse's keyword list; the others reserve about the same

    return dict(
        duckdb.sql("select keyword_name, keyword_category from duckdb_keywords()").fetchall()
    )


def needs_quotes(column: str) -> bool:
    """A column SQL reads as a keyword (`order`, `at`): quoted in the generated models, by
    the adapter's own quoting, and `quote: true` in their YAML."""
    return _keyword_categories().get(column) in ("reserved", "type_function")


def _sql_name(column: str) -> str:
    return f"{{{{ adapter.quote('{column}') }}}}" if needs_quotes(column) else column


def _yaml_column(column: str, **more) -> dict:
    return {"name": column, **({"quote": True} if needs_quotes(column) else {}), **more}


def key_columns(entity: EntitySpec) -> list[str]:
    """The staging model's key, or none when the entity has no unique key."""
    return [] if entity.duplicates_expected else [column_for(f) for f in entity.primary_key]


def sources_yaml(source: SourceSpec, columns: dict[str, list[Column]]) -> str:
    tables = []
    for name, entity_columns in columns.items():
        entity = source.entities[name]
        keys = set(column_for(f) for f in entity.primary_key)
        tables.append(
            {
                "name": name,
                "identifier": f"{source.name}__{name}",
                "description": (
                    f"The {name} of {source.name}, typed as dags/sources.yaml declares;"
                    f" a partition per ds (lake: raw/{source.name}/{name})."
                ),
                "columns": [
                    _yaml_column(
                        column.name,
                        data_type=column.data_type,
                        **({"data_tests": ["not_null"]} if column.name in keys else {}),
                    )
                    for column in [*entity_columns, Column("ds", "date", None)]
                ],
            }
        )
    document = {
        "version": 2,
        "sources": [
            {
                "name": source.name,
                "description": source.description or f"The {source.name} source.",
                "schema": "landing",
                "tables": tables,
            }
        ],
    }
    return _header() + yaml.safe_dump(document, sort_keys=False, width=88)


def staging_sql(source: SourceSpec, entity: EntitySpec, columns: list[Column]) -> str:
    keys = key_columns(entity)
    selected = "".join(f"        {_sql_name(column.name)},\n" for column in columns)
    reference = f"{{{{ source('{source.name}', '{entity.name}') }}}}"
    lines = [f"with source as (\n    select * from {reference}\n),\n"]
    if keys:
        lines.append(
            "\n-- A key's latest day holds (a snapshot, or a day re-read, repeats it).\n"
            "latest as (\n"
            "    select * from source\n"
            "    qualify row_number() over (\n"
            f"        partition by {', '.join(map(_sql_name, keys))}\n"
            "        order by ds desc\n"
            "    ) = 1\n"
            "),\n"
        )
    lines.append(
        "\nrenamed as (\n"
        "    select\n"
        f"{selected}"
        "        ds\n"
        f"    from {'latest' if keys else 'source'}\n"
        ")\n"
        "\nselect * from renamed\n"
    )
    return "".join(lines)


def models_yaml(source: SourceSpec, columns: dict[str, list[Column]]) -> str:
    models = []
    for name in columns:
        entity = source.entities[name]
        keys = key_columns(entity)
        model: dict = {
            "name": staging_model(source.name, name),
            "description": (
                f"The {name} of {source.name}, typed"
                + ("; one row per key (its latest day)." if keys else "; every row delivered.")
            ),
        }
        if len(keys) == 1:
            model["columns"] = [_yaml_column(keys[0], data_tests=["unique", "not_null"])]
        elif keys:
            quoted = [_sql_name(key) for key in keys]
            model["data_tests"] = [
                {"caravan_unique_combination": {"arguments": {"columns": quoted}}}
            ]
            model["columns"] = [_yaml_column(key, data_tests=["not_null"]) for key in keys]
        models.append(model)
    return _header() + yaml.safe_dump({"version": 2, "models": models}, sort_keys=False, width=88)


def staging_model(source: str, entity: str) -> str:
    return f"stg_{source}__{entity}"


def _header() -> str:
    return "# Written by `caravan dbt-source`; yours to edit (it will not overwrite it).\n"


def entity_columns(lake: Lake, source: SourceSpec, entity: EntitySpec) -> list[Column]:
    """The registry's columns, then the other columns of the latest published typed
    partition (every field delivered so far), typed as it holds them."""
    named = registry_columns(entity)
    days = lake.published_dates("curated", source.name, entity.name)
    if not days:
        return named
    manifest = lake.read_manifest(Partition("curated", source.name, entity.name, days[-1]))
    typed = {column.name: column for column in partition_columns(manifest.schema)}
    first = [typed.get(column.name, column) for column in named]
    return first + [typed[name] for name in sorted(set(typed) - {c.name for c in named})]


def write_dbt_source(
    dbt_project: Path, lake: Lake, source: SourceSpec, force: bool = False
) -> list[Path]:
    """Write the source's files into `dbt_project`; returns those written. Raises when
    the source has no `landing` entity, or a file exists (unless `force`)."""
    landed = [entity for entity in source.entities.values() if entity.landing]
    if not landed:
        raise ValueError(
            f"{source.name} has no entity with `landing: true` in dags/sources.yaml:"
            " nothing of it is loaded into the warehouse"
        )
    columns = {entity.name: entity_columns(lake, source, entity) for entity in landed}
    folder = dbt_project / "models" / "staging" / source.name
    files = {
        folder / f"_{source.name}__sources.yml": sources_yaml(source, columns),
        folder / f"_{source.name}__models.yml": models_yaml(source, columns),
        **{
            folder / f"{staging_model(source.name, entity.name)}.sql": staging_sql(
                source, entity, columns[entity.name]
            )
            for entity in landed
        },
    }
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{', '.join(str(path) for path in existing)} already exist(s): they are yours"
            " now; pass --force to write them again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    return list(files)

"""The registry's guards against names and globs that would reach outside their place, and
its lenient loading: one bad entry is reported, the others still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from caravan.sources.registry import (
    RegistryError,
    load_registry,
    load_registry_lenient,
    load_source,
)

GOOD_SOURCE = """\
shop:
  kind: sql_database
  conn_id: shop_default
  entities:
    orders:
      primary_key: order_id
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def drop_with_files(glob: str) -> str:
    return (
        "drop:\n  kind: file_drop\n  conn_id: c\n  entities:\n"
        f"    rows:\n      files: '{glob}'\n      primary_key: id\n"
    )


# -- names -----------------------------------------------------------------------------------

NAME_RULE = "name is not a safe identifier ^[a-z][a-z0-9]*(_[a-z0-9]+)*$"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("'../evil'", "../evil"),
        ("Shop", "Shop"),
        ("shop-db", "shop-db"),
        ("1st_shop", "1st_shop"),
        ("shop__db", "shop__db"),  # `__` separates source and entity in dbt's stg_ names
        ("shop_", "shop_"),
        ("'shop db'", "shop db"),
        ("'crm/contacts'", "crm/contacts"),
        ("123", "123"),
        ("'ingest_x; import os'", "ingest_x; import os"),
    ],
)
def test_a_source_name_that_is_no_safe_identifier_is_refused_naming_file_and_source(
    tmp_path, key, name
):
    path = write(tmp_path, GOOD_SOURCE.replace("shop:", f"{key}:", 1))
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    assert str(raised.value).startswith(f"{path}: source {name!r}: the source {NAME_RULE}")


@pytest.mark.parametrize(
    ("key", "name"),
    [("'../orders'", "../orders"), ("Orders", "Orders"), ("order-items", "order-items")],
)
def test_an_entity_name_that_is_no_safe_identifier_is_refused_naming_source_and_entity(
    tmp_path, key, name
):
    path = write(tmp_path, GOOD_SOURCE.replace("orders:", f"{key}:", 1))
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    assert str(raised.value).startswith(
        f"{path}: source 'shop': entity {name!r}: the entity {NAME_RULE}"
    )


@pytest.mark.parametrize("name", ["a", "crm", "shop_db", "campaign_performance", "v2_api"])
def test_lower_case_words_joined_by_underscores_are_names(tmp_path, name):
    path = write(tmp_path, GOOD_SOURCE.replace("shop:", f"{name}:").replace("orders:", f"{name}:"))
    assert list(load_registry(path)[name].entities) == [name]


# -- globs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "reason"),
    [
        ("../../../../etc/passwd", "climbs out of the connection's folder with '..'"),
        ("exports/../../x_${ds}.csv", "climbs out of the connection's folder with '..'"),
        ("..\\x.csv", "climbs out of the connection's folder with '..'"),  # Windows' separator
        ("/etc/passwd", "is absolute: a glob is relative to the connection's folder or bucket"),
        ("~/x.csv", "is absolute: a glob is relative to the connection's folder or bucket"),
        ("C:/x.csv", "is absolute: a glob is relative to the connection's folder or bucket"),
        ("gs://other/x.csv", "is a URL: a glob is relative to the connection's folder or bucket"),
    ],
)
def test_a_glob_reaching_outside_the_folder_is_refused_naming_source_entity_and_glob(
    tmp_path, glob, reason
):
    path = write(tmp_path, drop_with_files(glob))
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    assert str(raised.value) == f"{path}: source 'drop': entity 'rows': files {glob!r} {reason}"


@pytest.mark.parametrize(
    "glob", ["${ds}/*.jsonl", "events_${ds_nodash}.ndjson", "a..b_${ds}.csv", "exports/**/*.csv"]
)
def test_a_glob_inside_the_folder_is_kept(tmp_path, glob):
    path = write(tmp_path, drop_with_files(glob))
    assert load_registry(path)["drop"].entities["rows"].files == glob


# -- lenient loading -------------------------------------------------------------------------

MIXED = (
    "'../evil':\n  kind: file_drop\n  conn_id: c\n  entities:\n"
    "    rows:\n      files: x.csv\n      primary_key: id\n"
    + GOOD_SOURCE
    + "crm:\n  kind: rest_api\n  conn_id: crm_default\n  entities:\n"
    "    'Contacts!':\n      endpoint: {path: contacts}\n      primary_key: id\n"
)


def test_lenient_loading_keeps_the_good_sources_and_reports_each_bad_one_in_file_order(
    tmp_path,
):
    path = write(tmp_path, MIXED)
    sources, errors = load_registry_lenient(path)

    assert list(sources) == ["shop"]
    assert list(sources["shop"].entities) == ["orders"]
    assert [str(error) for error in errors] == [
        f"{path}: source '../evil': the source {NAME_RULE} (lower-case letters and digits,"
        " words joined by single underscores): it becomes the DAG id, lake folders and"
        " table names",
        f"{path}: source 'crm': entity 'Contacts!': the entity {NAME_RULE} (lower-case"
        " letters and digits, words joined by single underscores): it becomes the DAG id,"
        " lake folders and table names",
    ]


def test_strict_loading_raises_the_first_bad_entry(tmp_path):
    path = write(tmp_path, MIXED)
    with pytest.raises(RegistryError, match=r"source '\.\./evil': the source name"):
        load_registry(path)


def test_a_file_that_is_not_yaml_is_one_error_and_no_source(tmp_path):
    path = write(tmp_path, "shop: [unclosed\n")
    sources, errors = load_registry_lenient(path)
    assert sources == {}
    assert len(errors) == 1 and str(errors[0]).startswith(f"{path}: not valid YAML: ")


def test_a_file_that_is_not_a_mapping_is_one_error_and_no_source(tmp_path):
    path = write(tmp_path, "- shop\n- crm\n")
    sources, errors = load_registry_lenient(path)
    assert sources == {}
    assert [str(error) for error in errors] == [
        f"{path}: expected a mapping of source name to source"
    ]


def test_one_source_loads_on_its_own_whatever_the_other_entries_hold(tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    path = write(tmp_path, MIXED)
    assert load_source(path, "shop") == load_registry(write(alone, GOOD_SOURCE))["shop"]
    with pytest.raises(RegistryError) as raised:
        load_source(path, "crm")
    assert str(raised.value).startswith(
        f"{path}: no valid source 'crm'\n- {path}: source '../evil': the source name"
    )
    assert f"\n- {path}: source 'crm': entity 'Contacts!': the entity name" in str(raised.value)

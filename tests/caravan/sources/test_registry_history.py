"""How far back a source goes (`start_date`) and where its history export is
(`history_files`): parsed from the registry, refused when malformed, and the start the
source's ingest DAG is built with."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from caravan.sources.registry import RegistryError, load_registry
from tests.dags.test_dag_integrity import environ, run_probe

REPO = Path(__file__).resolve().parents[3]

ENTRY = """
bookshop:
  kind: file_drop
  conn_id: bookshop_default
{source_extra}
  entities:
    orders:
      files: orders_${{ds}}.csv
      format: csv
{entity_extra}
      primary_key: order_id
      incremental_field: ordered_at
      types: {{ordered_at: timestamp}}
"""


def registry(tmp_path: Path, source_extra: str = "", entity_extra: str = "") -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(ENTRY.format(source_extra=source_extra, entity_extra=entity_extra))
    return path


def test_a_source_without_start_date_starts_with_the_platform():
    sources = load_registry(REPO / "dags" / "sources.yaml")
    assert {s.start_date for s in sources.values()} == {None}


@pytest.mark.parametrize("written", ["2012-01-01", "'2012-01-01'", '"2012-01-01"'])
def test_start_date_is_a_day_written_unquoted_or_quoted(tmp_path, written):
    path = registry(tmp_path, f"  start_date: {written}")
    assert load_registry(path)["bookshop"].start_date == date(2012, 1, 1)


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("'2012-13-01'", "'2012-13-01'"),
        ("2012-1-1", "'2012-1-1'"),
        ("yesterday", "'yesterday'"),
        ("2012", "2012"),
        ("2012-01-01 10:00:00", "datetime.datetime(2012, 1, 1, 10, 0)"),
        ("'2012-01-01T00:00:00Z'", "'2012-01-01T00:00:00Z'"),
    ],
)
def test_start_date_other_than_a_day_is_refused_naming_source_and_value(tmp_path, written, shown):
    path = registry(tmp_path, f"  start_date: {written}")
    with pytest.raises(RegistryError) as refused:
        load_registry(path)
    assert str(refused.value) == (
        f"{path}: source 'bookshop': start_date {shown} is not a day written YYYY-MM-DD"
        " (e.g. 2012-01-01)"
    )


def test_an_unquoted_date_that_is_no_day_is_refused_as_the_file_cannot_be_read(tmp_path):
    path = registry(tmp_path, "  start_date: 2012-13-01")
    with pytest.raises(RegistryError) as refused:
        load_registry(path)
    assert str(refused.value) == f"{path}: not valid YAML: month must be in 1..12"


def test_history_files_is_a_file_drop_entitys_glob(tmp_path):
    path = registry(tmp_path, entity_extra="      history_files: orders_export_*.csv")
    orders = load_registry(path)["bookshop"].entities["orders"]
    assert (orders.files, orders.history_files) == ("orders_${ds}.csv", "orders_export_*.csv")
    assert load_registry(registry(tmp_path))["bookshop"].entities["orders"].history_files is None


@pytest.mark.parametrize(
    ("glob", "why"),
    [
        ("../exports/*.csv", "climbs out of the connection's folder with '..'"),
        (
            "/data/exports/*.csv",
            "is absolute: a glob is relative to the connection's folder or bucket",
        ),
        ("''", "is empty"),
    ],
)
def test_history_files_outside_the_folder_is_refused(tmp_path, glob, why):
    path = registry(tmp_path, entity_extra=f"      history_files: {glob}")
    with pytest.raises(RegistryError) as refused:
        load_registry(path)
    shown = repr("" if glob == "''" else glob)
    assert str(refused.value) == (
        f"{path}: source 'bookshop': entity 'orders': history_files {shown} {why}"
    )


def test_history_files_belongs_to_file_drop_only(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "shop:\n  kind: sql_database\n  conn_id: shop_default\n  entities:\n"
        "    orders:\n      primary_key: order_id\n      history_files: x.csv\n"
    )
    with pytest.raises(RegistryError, match=r"unknown field\(s\) \['history_files'\]"):
        load_registry(path)


# Parsed in a fresh interpreter with an Airflow home of its own (tests/dags' probe).
PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
starts = {dag_id: dag.start_date.isoformat() for dag_id, dag in bag.dags.items()}
print("PROBE " + json.dumps({"errors": list(bag.import_errors), "starts": starts}))
"""


def test_the_ingest_dag_starts_on_the_sources_start_date(tmp_path):
    """dags/ingest.py over a registry of two sources: one declares its start, the other
    starts with the platform."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "dags" / "ingest.py", dags)
    entry = ENTRY.format(source_extra="  start_date: 2012-01-01", entity_extra="")
    later = ENTRY.format(source_extra="", entity_extra="").replace("bookshop", "newshop")
    (dags / "sources.yaml").write_text(entry + later)

    parsed = run_probe(PROBE, [str(dags)], environ(tmp_path / "home"), REPO)

    assert parsed == {
        "errors": [],
        "starts": {
            "ingest_bookshop": "2012-01-01T00:00:00+00:00",
            "ingest_newshop": "2026-01-01T00:00:00+00:00",
        },
    }

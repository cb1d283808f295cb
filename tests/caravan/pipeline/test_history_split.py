"""How a history load places each delivered record on a day, keeps them on disk between
the extract and the days' staging, chooses its entities, and how a run of a day before
a source's start fails (an Airflow backfill makes such runs)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from caravan.pipeline import history
from caravan.pipeline.history import DaySpill, HistoryError, history_entities, placed, record_day
from caravan.sources import Delivered
from caravan.sources.registry import load_registry

REGISTRY = """
till:
  kind: file_drop
  conn_id: till_default
  start_date: 2016-03-01
  entities:
    sales:
      files: sales_${ds}.csv
      history_files: sales_export.csv
      format: csv
      primary_key: id
      incremental_field: sold_on
      types: {sold_on: {type: date, format: yyyymmdd}, qty: integer}
    receipts:
      files: receipts_${ds}.csv
      history_files: receipts_export.csv
      format: csv
      primary_key: id
      required: [id, printed_at]
      incremental_field: printed_at
      types: {printed_at: timestamp}
    shelves:
      window: snapshot
      files: shelves.csv
      primary_key: id
shop:
  kind: file_drop
  conn_id: shop_default
  entities:
    orders:
      files: orders_${ds}.csv
      primary_key: id
      incremental_field: day
      types: {day: date}
"""
FIRST, LAST = date(2016, 3, 1), date(2016, 3, 3)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    path = tmp_path_factory.mktemp("registry") / "sources.yaml"
    path.write_text(REGISTRY)
    return load_registry(path)


@pytest.fixture(scope="module")
def sales(sources):
    return sources["till"].entities["sales"]


def test_a_record_goes_to_the_day_of_its_date_read_in_its_declared_format(sales):
    delivered = Delivered({"id": "1", "sold_on": "20160302"}, "sales_export.csv line 2")
    assert placed(delivered, sales, FIRST, LAST) == ("2016-03-02", delivered)


def test_a_bad_record_with_a_day_in_range_goes_to_its_day_for_staging_to_quarantine(sales):
    delivered = Delivered({"id": "2", "sold_on": "20160301", "qty": "two"}, "line 3")
    assert placed(delivered, sales, FIRST, LAST) == ("2016-03-01", delivered)


def test_a_record_outside_the_range_has_no_day_and_says_which_it_is(sales):
    delivered = Delivered({"id": "3", "sold_on": "20160304"}, "line 4")
    assert placed(delivered, sales, FIRST, LAST) == (
        None,
        Delivered(
            {"id": "3", "sold_on": "20160304"},
            "line 4",
            "field 'sold_on' is '20160304', not a day of the history load 2016-03-01 .. 2016-03-03",
        ),
    )


def test_a_record_without_its_date_has_no_day_and_says_so(sales):
    delivered = Delivered({"id": "4", "sold_on": None}, "line 5")
    assert placed(delivered, sales, FIRST, LAST) == (
        None,
        Delivered(
            {"id": "4", "sold_on": None},
            "line 5",
            "field 'sold_on' is missing, so the history load cannot place the record on a day",
        ),
    )


@pytest.mark.parametrize(
    "delivered",
    [
        # Not in the declared format: staging names the type it should have.
        Delivered({"id": "5", "sold_on": "2016-03-02"}, "line 6"),
        # A CSV row the reader could not make a record of.
        Delivered(["6", "20160302", "1", "x"], "line 7", "row has 4 cells, the header has 3"),
    ],
)
def test_a_record_staging_rejects_anyway_keeps_its_own_reason(sales, delivered):
    assert placed(delivered, sales, FIRST, LAST) == (None, delivered)


@pytest.mark.parametrize(
    ("printed_at", "day"),
    [
        ("2016-03-02T23:30:00-02:00", date(2016, 3, 3)),  # 01:30 UTC the next day
        ("2016-03-03T00:30:00+01:00", date(2016, 3, 2)),  # 23:30 UTC the day before
        ("2016-03-02T12:00:00", date(2016, 3, 2)),  # no offset: UTC, as declared
        ("yesterday", None),
    ],
)
def test_a_timestamps_day_is_its_utc_day(sources, printed_at, day):
    receipts = sources["till"].entities["receipts"]
    assert record_day({"id": "1", "printed_at": printed_at}, receipts) == day


def test_the_spill_gives_each_days_records_back_in_order_with_their_types(tmp_path, monkeypatch):
    monkeypatch.setattr(history, "SPILL_BUFFER", 2)  # flushed to disk every two records
    spill = DaySpill(tmp_path)
    records = [
        ("2016-03-01", Delivered({"id": 1, "price": Decimal("1.10")}, "row 1")),
        ("2016-03-02", Delivered({"id": 2}, "row 2")),
        ("2016-03-01", Delivered({"id": 3, "when": date(2016, 3, 1)}, "row 3")),
        ("2016-03-02", Delivered("not json", "row 4", "line is not valid JSON")),
        ("2016-03-01", Delivered({"id": 5}, "row 5")),
    ]
    for ds, delivered in records:
        spill.add(ds, delivered)
    spill.flush()

    assert list(spill.read("2016-03-01")) == [records[0][1], records[2][1], records[4][1]]
    assert list(spill.read("2016-03-02")) == [records[1][1], records[3][1]]
    assert list(spill.read("2016-03-03")) == []
    assert spill.counts == {"2016-03-01": 3, "2016-03-02": 2}


def test_a_load_reads_every_entity_it_can_split_by_day(sources):
    chosen, skipped = history_entities(sources["till"])
    assert [entity.name for entity in chosen] == ["sales", "receipts"]
    assert skipped == ["shelves"]


@pytest.mark.parametrize(
    ("source", "names", "message"),
    [
        (
            "till",
            ["shelves"],
            "till/shelves: a history load places each record on the day of its"
            " incremental_field; this entity is a snapshot: its daily runs load it",
        ),
        ("till", ["tills"], "till: no entity 'tills'; its entities: sales, receipts, shelves"),
        (
            "shop",
            [],
            "shop/orders: a file_drop entity's history is read from its history_files (a glob"
            " of the history export under the connection's folder, e.g. orders_export*.csv),"
            " which dags/sources.yaml does not set",
        ),
    ],
)
def test_entities_a_load_cannot_read_are_refused_naming_them(sources, source, names, message):
    with pytest.raises(HistoryError) as refused:
        history_entities(sources[source], names)
    assert str(refused.value) == message


def test_a_run_of_a_day_before_the_sources_start_fails_at_once_saying_why(tmp_path, monkeypatch):
    """Airflow's backfills make runs before a DAG's start_date and run their tasks: the
    extract step refuses such a day for good (no retries), naming the source's start."""
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.dag_support import failing_at_once
    from caravan.pipeline import ingest_steps

    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "sources.yaml").write_text(REGISTRY)
    monkeypatch.setenv("CARAVAN_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path / "home"))

    with pytest.raises(AirflowFailException) as failed, failing_at_once():
        ingest_steps.extract("till", "2016-02-29", connection=None)
    assert str(failed.value) == (
        "till starts on 2016-03-01 (its start_date in dags/sources.yaml, else"
        " caravan.dag_support.START_DATE), so it has nothing to extract for ds=2016-02-29."
        " Declare an earlier start_date to load that day. (permanent: not retried)"
    )
    with pytest.raises(AirflowFailException, match="shop starts on 2026-01-01"):
        with failing_at_once():
            ingest_steps.extract("shop", "2025-12-31", connection=None)


def test_the_history_window_covers_the_range_and_fills_its_placeholders():
    window = history.history_window(FIRST, LAST)
    assert window.days() == ["2016-03-01", "2016-03-02", "2016-03-03"]
    placeholders = window.placeholders()
    assert (placeholders["start"], placeholders["end"], placeholders["ds"]) == (
        "2016-03-01",
        "2016-03-03",
        "2016-03-03",
    )
    assert (placeholders["start_at"], placeholders["end_before"]) == (
        "2016-03-01T00:00:00.000Z",
        "2016-03-04T00:00:00.000Z",
    )


def test_a_file_drop_entity_reads_its_history_export(sources, sales):
    assert history.reading(sources["till"], sales).files == "sales_export.csv"
    assert sales.files == "sales_${ds}.csv"  # the registry's own, unchanged

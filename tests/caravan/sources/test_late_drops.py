"""A file drop that has not come: waited for until its deadline, then failed for good.

A day's drop is expected at the end of its data interval (midnight UTC after ds) and may
be `drop_wait_hours` late. Before that deadline the extract is rescheduled (Airflow's
reschedule: no retry spent); after it the task fails at once (`AirflowFailException`),
naming the source, entity, the glob as filled for the day, the folder and the deadline.
A real landing folder and registry; the clock is passed in.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

from caravan.dag_support import failing_at_once
from caravan.sources import SourceError
from caravan.sources.file_drop import LateDrop, deliveries
from caravan.sources.registry import RegistryError, load_registry
from caravan.sources.window import Window

DS = "2026-03-03"
REGISTRY = """
partner:
  kind: file_drop
  conn_id: partner_default
  {wait}
  entities:
    orders:
      files: orders_${{ds}}.csv
      format: csv
      primary_key: order_id
"""


def partner(tmp_path: Path, wait: str = "drop_wait_hours: 6"):
    path = tmp_path / "sources.yaml"
    path.write_text(REGISTRY.format(wait=wait))
    source = load_registry(path)["partner"]
    return source, source.entities["orders"]


def read(source, entity, folder: Path, ds: str = DS) -> list:
    window = Window.for_run(source, entity, ds)
    return list(deliveries(source, entity, folder.as_uri(), window))


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    (folder / "orders_2026-03-02.csv").write_text("order_id,amount\nA1,5.00\n")  # not ds's
    return folder


def late_drop(tmp_path: Path, landing: Path, **registry) -> LateDrop:
    source, entity = partner(tmp_path, **registry)
    with pytest.raises(LateDrop) as late:
        read(source, entity, landing)
    return late.value


def test_a_missing_file_names_the_glob_the_folder_and_when_it_was_expected(tmp_path, landing):
    late = late_drop(tmp_path, landing)
    assert str(late) == (
        f"partner/orders: no file matches 'orders_2026-03-03.csv' in {landing.as_uri()}"
        " for ds=2026-03-03; the drop was expected at 2026-03-04 00:00 UTC (the end of its"
        " data interval) and may be late until 2026-03-04 06:00 UTC (drop_wait_hours: 6)"
    )
    assert late.deadline == datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    assert isinstance(late, SourceError)  # a source's failure, as before: never an empty day


def test_before_the_deadline_the_extract_waits_and_looks_again_every_ten_minutes(tmp_path, landing):
    late = late_drop(tmp_path, landing)
    at_two = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    with pytest.raises(AirflowRescheduleException) as waiting:
        with failing_at_once(now=lambda: at_two):
            raise late
    assert waiting.value.reschedule_date == datetime(2026, 3, 4, 2, 10, tzinfo=UTC)

    # The last look is at the deadline itself, not ten minutes past it.
    with pytest.raises(AirflowRescheduleException) as waiting:
        with failing_at_once(now=lambda: datetime(2026, 3, 4, 5, 55, tzinfo=UTC)):
            raise late
    assert waiting.value.reschedule_date == late.deadline


def test_at_the_deadline_it_fails_for_good_without_retries_with_the_message(tmp_path, landing):
    late = late_drop(tmp_path, landing)
    for now in (late.deadline, datetime(2026, 11, 30, tzinfo=UTC)):  # a backfill, much later
        with pytest.raises(AirflowFailException) as failed:
            with failing_at_once(now=lambda now=now: now):
                raise late
        assert str(failed.value) == (
            f"{late}; it did not come by then: failed for good, not retried (drop the file,"
            " then clear the task or run the day again)"
        )
        assert failed.value.__cause__ is late


def test_a_file_that_comes_before_the_deadline_is_read_on_the_next_look(tmp_path, landing):
    source, entity = partner(tmp_path)
    with pytest.raises(LateDrop):
        read(source, entity, landing)
    (landing / "orders_2026-03-03.csv").write_text("order_id,amount\nB1,7.50\n")
    [record] = read(source, entity, landing)
    assert (record.origin, record.record) == (
        "orders_2026-03-03.csv line 2",
        {"order_id": "B1", "amount": "7.50"},
    )


def test_the_wait_is_the_sources_own_and_zero_fails_at_the_end_of_the_interval(tmp_path, landing):
    assert late_drop(tmp_path, landing, wait="").deadline == datetime(2026, 3, 4, 6, tzinfo=UTC)
    at_once = late_drop(tmp_path, landing, wait="drop_wait_hours: 0")
    assert at_once.deadline == datetime(2026, 3, 4, tzinfo=UTC)
    assert "may be late until 2026-03-04 00:00 UTC (drop_wait_hours: 0)" in str(at_once)
    half = late_drop(tmp_path, landing, wait="drop_wait_hours: 1.5")
    assert half.deadline == datetime(2026, 3, 4, 1, 30, tzinfo=UTC)
    with pytest.raises(AirflowFailException):
        with failing_at_once(now=lambda: datetime(2026, 3, 4, tzinfo=UTC)):
            raise at_once


def test_the_deadline_survives_crossing_processes(tmp_path, landing):
    late = late_drop(tmp_path, landing)
    copy = pickle.loads(pickle.dumps(late))
    assert (str(copy), copy.deadline) == (str(late), late.deadline)


@pytest.mark.parametrize("value", ["-1", "true", "'6h'", "9000"])
def test_a_wait_that_is_not_a_number_of_hours_is_refused(tmp_path, value):
    with pytest.raises(RegistryError, match=r"source 'partner': drop_wait_hours .* not a number"):
        partner(tmp_path, wait=f"drop_wait_hours: {value}")


def test_only_a_file_drop_waits_for_a_drop(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "shop:\n  kind: sql_database\n  conn_id: shop\n  drop_wait_hours: 6\n"
        "  entities:\n    orders: {primary_key: id}\n"
    )
    with pytest.raises(RegistryError, match=r"unknown field\(s\) \['drop_wait_hours'\]"):
        load_registry(path)


def test_the_registrys_file_drops_wait_six_hours_by_default():
    registry = load_registry(Path(__file__).resolve().parents[3] / "dags" / "sources.yaml")
    drops = {name: s.drop_wait for name, s in registry.items() if s.kind == "file_drop"}
    assert drops == {
        name: timedelta(hours=6) for name in ("web_analytics", "fx_rates", "sales_ops", "docs")
    }

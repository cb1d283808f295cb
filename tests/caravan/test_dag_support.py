"""How a task finds its `ds`: plain dict contexts and simple stand-ins for Airflow's DagRun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest

from caravan.dag_support import partition_dates, partition_ds


def run(conf=None, partition_key=None, run_id="manual__1") -> SimpleNamespace:
    """Stands for a DagRun: the attributes `partition_ds` reads."""
    return SimpleNamespace(conf=conf, partition_key=partition_key, run_id=run_id)


EST = timezone(timedelta(hours=-5))


def test_conf_ds_wins_over_partition_key_and_data_interval():
    context = {
        "dag_run": run(conf={"ds": "2026-03-05"}, partition_key="2026-03-04"),
        "data_interval_start": datetime(2026, 3, 3, tzinfo=UTC),
    }
    assert partition_ds(context) == "2026-03-05"


def test_partition_key_comes_next():
    context = {
        "dag_run": run(conf={}, partition_key="2026-03-04"),
        "data_interval_start": datetime(2026, 3, 3, tzinfo=UTC),
    }
    assert partition_ds(context) == "2026-03-04"


@pytest.mark.parametrize("conf", [None, {}, {"ds": ""}, {"ds": None}, {"other": "x"}])
def test_an_empty_conf_falls_through(conf):
    context = {"dag_run": run(conf=conf, partition_key="2026-03-04")}
    assert partition_ds(context) == "2026-03-04"


def test_a_dag_run_without_a_partition_key_attribute_uses_the_data_interval():
    context = {
        "dag_run": SimpleNamespace(conf=None, run_id="scheduled__1"),
        "data_interval_start": datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
    }
    assert partition_ds(context) == "2026-03-03"


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 23:30 at UTC−5 is 04:30 the next day in UTC.
        (datetime(2026, 11, 1, 23, 30, tzinfo=EST), "2026-11-02"),
        (pendulum.datetime(2026, 11, 1, 23, 30, tz="America/New_York"), "2026-11-02"),
        # 00:30 at UTC+2 is 22:30 the day before in UTC.
        (datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), "2026-02-28"),
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), "2026-03-01"),
        (datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), "2026-03-01"),
    ],
)
def test_the_data_interval_start_is_taken_as_a_utc_date(start, expected):
    context = {"dag_run": run(), "data_interval_start": start}
    assert partition_ds(context) == expected


def test_the_logical_date_stands_in_when_there_is_no_data_interval():
    context = {
        "dag_run": run(),
        "data_interval_start": None,
        "logical_date": datetime(2026, 11, 1, 23, 30, tzinfo=EST),
    }
    assert partition_ds(context) == "2026-11-02"


@pytest.mark.parametrize(
    ("conf_ds", "expected"),
    [
        ("2026-03-05", "2026-03-05"),
        ("20260305", "2026-03-05"),
        ("2026-03-05T10:00:00", "2026-03-05"),
    ],
)
def test_conf_ds_is_normalised_to_a_date_string(conf_ds, expected):
    assert partition_ds({"dag_run": run(conf={"ds": conf_ds})}) == expected


def test_a_malformed_conf_ds_is_refused():
    with pytest.raises(ValueError):
        partition_ds({"dag_run": run(conf={"ds": "2026-02-30"})})


def test_no_ds_at_all_raises_naming_the_run():
    with pytest.raises(ValueError, match="run manual__7: no ds in conf"):
        partition_ds({"dag_run": run(run_id="manual__7")})


def test_one_day_without_ds_end():
    context = {"dag_run": run(conf={"ds": "2026-11-30"})}
    assert partition_dates(context) == ["2026-11-30"]


def test_ds_end_asks_for_every_day_from_ds_to_it_across_a_month_end():
    context = {"dag_run": run(conf={"ds": "2026-11-29", "ds_end": "2026-12-02"})}
    assert partition_dates(context) == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]


def test_ds_end_before_ds_is_refused_naming_both():
    context = {"dag_run": run(conf={"ds": "2026-11-03", "ds_end": "2026-11-01"})}
    with pytest.raises(ValueError, match="ds_end 2026-11-01 is before ds 2026-11-03"):
        partition_dates(context)

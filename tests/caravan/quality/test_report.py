"""`caravan quality` on a hand-built results table in a real DuckDB file; outputs by hand."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from caravan.cli import main
from caravan.quality.results import RESULT_COLUMNS

T = dt.datetime(2026, 11, 3, 10, 0)


def row(stage, source, entity, ds, run_id, minute, expectation, *, success=True, **extra):
    values = {
        "stage": stage,
        "source": source,
        "entity": entity,
        "ds": dt.date.fromisoformat(ds),
        "expectation": expectation,
        "column_name": None,
        "severity": "error",
        "success": success,
        "observed_value": "null",
        "unexpected_count": None,
        "sample_keys": "[]",
        "run_id": run_id,
        "validated_at": T + dt.timedelta(minutes=minute),
        "kwargs": "{}",
    }
    return {**values, **extra}


ROWS = [
    # raw shop_db/orders: ds 11-01 failed, ds 11-02 (the latest) passed both checks.
    row("raw", "shop_db", "orders", "2026-11-01", "r1", 0, "not_null", success=False),
    row("raw", "shop_db", "orders", "2026-11-01", "r1", 0, "unique", success=False),
    row("raw", "shop_db", "orders", "2026-11-02", "r2", 5, "not_null"),
    row("raw", "shop_db", "orders", "2026-11-02", "r2", 5, "unique"),
    # raw google_ads: ds 11-02 failed in run a, its rerun b passed with one warning.
    row("raw", "google_ads", "campaign_performance", "2026-11-02", "a", 1, "x", success=False),
    row("raw", "google_ads", "campaign_performance", "2026-11-02", "b", 9, "x"),
    row("raw", "google_ads", "campaign_performance", "2026-11-02", "b", 9, "y"),
    row(
        "raw",
        "google_ads",
        "campaign_performance",
        "2026-11-02",
        "b",
        9,
        "expect_column_values_to_be_between",
        success=False,
        severity="warn",
        column_name="cost_micros",
        unexpected_count=1,
        sample_keys=json.dumps([{"campaign_id": "c9"}]),
    ),
    # curated sales/orders, run r3: its suite (one error fails, 7 keys sampled), then its
    # reconciliation a minute later in the same run (passes): 3 checks, 1 error.
    row(
        "curated",
        "sales",
        "orders",
        "2026-11-02",
        "r3",
        20,
        "expect_column_values_to_not_be_null",
        success=False,
        column_name="customer_key",
        unexpected_count=7,
        sample_keys=json.dumps([{"order_id": n} for n in range(1, 8)]),
    ),
    row("curated", "sales", "orders", "2026-11-02", "r3", 20, "unique"),
    row("curated", "sales", "orders", "2026-11-02", "r3", 21, "reconciles"),
    # marts: one table-level check passed.
    row("marts", "marts", "fct_orders", "2026-11-02", "r4", 30, "row_count"),
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    monkeypatch.delenv("CARAVAN_TARGET", raising=False)
    return tmp_path


def build_results(home, rows=ROWS):
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("create schema quality")
        con.execute(
            "create table quality.validation_results ("
            + ", ".join(f"{name} {kind}" for name, kind in RESULT_COLUMNS)
            + ")"
        )
        names = [name for name, _ in RESULT_COLUMNS]
        con.executemany(
            f"insert into quality.validation_results ({', '.join(names)})"
            f" values ({', '.join('?' for _ in names)})",
            [[r[name] for name in names] for r in rows],
        )


def quality(capsys, *args):
    status = main(["quality", *args])
    return status, capsys.readouterr().out


def test_latest_status_per_stage_source_entity_and_exit_1_on_a_failure(home, capsys):
    build_results(home)

    status, out = quality(capsys)

    assert status == 1  # curated sales/orders failed an error check
    assert out.splitlines()[2:] == [
        "stage    source      entity                ds          checks  errors  warnings  status  run",  # noqa: E501
        "raw      google_ads  campaign_performance  2026-11-02       3       0         1  WARN    b",  # noqa: E501
        "raw      shop_db     orders                2026-11-02       2       0         0  PASS    r2",  # noqa: E501
        "curated  sales       orders                2026-11-02       3       1         0  FAIL    r3",  # noqa: E501
        "marts    marts       fct_orders            2026-11-02       1       0         0  PASS    r4",  # noqa: E501
        "4 gates: 2 PASS, 1 WARN, 1 FAIL",
        "",
        f"No Data Docs yet under {home / 'data_docs'}.",
    ]


def test_the_newest_run_shows_even_for_an_older_ds(home, capsys):
    """A backfill of 11-01 that fails, after 11-02 passed: the entity's latest outcome is
    the backfill's, not the highest ds's."""
    backfill = row("raw", "shop_db", "orders", "2026-11-01", "bf", 40, "unique", success=False)
    build_results(home, [*ROWS, backfill])

    status, out = quality(capsys, "--source", "shop_db")

    assert status == 1
    assert out.splitlines()[3] == (
        "raw    shop_db  orders  2026-11-01       1       1         0  FAIL    bf"
    )


def test_warnings_alone_exit_0(home, capsys):
    build_results(home)

    status, out = quality(capsys, "--stage", "raw")

    assert status == 0
    assert "2 gates: 1 PASS, 1 WARN, 0 FAIL" in out


def test_ds_filter_shows_that_days_runs(home, capsys):
    build_results(home)

    status, out = quality(capsys, "--ds", "2026-11-01")

    assert status == 1
    assert out.splitlines()[3:5] == [
        "raw    shop_db  orders  2026-11-01       2       2         0  FAIL    r1",  # noqa: E501
        "1 gates: 0 PASS, 0 WARN, 1 FAIL",
    ]


def test_failures_list_column_count_samples_and_the_runs_page(home, capsys):
    build_results(home)
    # The page GX's layout gives curated sales/orders' run r3 at 10:20 UTC.
    page = (
        home
        / "data_docs/validations/curated/sales/orders/r3/20261103T102000.000000Z"
        / "curated.sales-orders.ds=2026-11-02.html"
    )
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    (home / "data_docs" / "index.html").write_text("<html></html>")

    status, out = quality(capsys, "--failures")

    assert status == 1
    failures = out.split("Failing expectations:\n")[1].splitlines()
    assert failures == [
        "[warn] raw google_ads/campaign_performance ds=2026-11-02:"
        " expect_column_values_to_be_between on column cost_micros:"
        ' 1 unexpected, sample keys: {"campaign_id": "c9"}',
        "[error] curated sales/orders ds=2026-11-02:"
        " expect_column_values_to_not_be_null on column customer_key: 7 unexpected,"
        ' sample keys: {"order_id": 1}, {"order_id": 2}, {"order_id": 3}, {"order_id": 4},'
        ' {"order_id": 5} (+2 more)',
        f"    Data Docs: {page.as_uri()}",
        "",
        f"Data Docs: {(home / 'data_docs' / 'index.html').as_uri()}",
    ]


def test_no_warehouse_no_table_and_no_match_say_so_and_exit_2(home, capsys):
    status, out = quality(capsys)
    assert (status, out.strip()) == (
        2,
        f"No warehouse at {home / 'warehouse.duckdb'}: no gate has run yet (try `caravan demo`).",
    )

    duckdb.connect(str(home / "warehouse.duckdb")).close()
    status, out = quality(capsys)
    assert (status, out.strip()) == (
        2,
        f"No gate results yet: {home / 'warehouse.duckdb'} has no"
        " quality.validation_results table.",
    )


def test_filters_matching_nothing_exit_2(home, capsys):
    build_results(home)

    status, out = quality(capsys, "--source", "crm")

    assert (status, out.strip()) == (
        2,
        "No gate results in quality.validation_results for source=crm.",
    )


def test_bad_ds_is_an_error(home, capsys):
    build_results(home)

    assert main(["quality", "--ds", "11/02/2026"]) == 2
    assert "--ds '11/02/2026' is not a YYYY-MM-DD date" in capsys.readouterr().err

"""The gate mechanics, with real GX and a real DuckDB file; expected values worked out by hand."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import pickle
import time

import duckdb
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pytest

from caravan.quality.gate import (
    Check,
    GateFailed,
    GateResult,
    record_results,
    run_gate,
    validate_batch,
)
from caravan.quality.outcomes import to_json
from caravan.quality.results import RESULT_COLUMNS

WHERE = {"stage": "raw", "source": "shop_db", "entity": "orders", "ds": "2024-03-05"}


def orders() -> pd.DataFrame:
    """Five order lines keyed by line_id: lines 2 and 4 have no order_id, 20 and 40 repeat."""
    return pd.DataFrame(
        {
            "line_id": [1, 2, 3, 4, 5],
            "order_id": [10, None, 20, None, 20],
            "customer_id": ["c1", "c2", "c3", None, "c5"],
            "sku": ["A", "A", "B", "B", "B"],
        }
    )


def validate(frame, checks, run_id="run-1", key_columns=("line_id",)):
    return validate_batch(frame, checks, **WHERE, run_id=run_id, key_columns=list(key_columns))


def stored(path) -> pd.DataFrame:
    with duckdb.connect(str(path)) as con:
        return con.execute("select * from quality.validation_results order by run_id").df()


def test_not_null_failure_counts_and_samples_the_null_rows_by_key():
    result = validate(orders(), [Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))])

    [row] = result.rows
    assert row["expectation"] == "expect_column_values_to_not_be_null"
    assert row["column_name"] == "order_id"
    assert row["success"] is False
    assert row["unexpected_count"] == 2
    assert json.loads(row["sample_keys"]) == [{"line_id": 2}, {"line_id": 4}]
    assert json.loads(row["observed_value"]) == {"element_count": 5, "unexpected_percent": 40.0}
    assert json.loads(row["kwargs"]) == {"column": "order_id"}
    assert result.passed is False
    assert result.failures == [row]


def test_unique_failure_samples_every_duplicated_row():
    frame = orders().assign(order_id=[10, 20, 20, 30, 30])
    result = validate(frame, [Check(gxe.ExpectColumnValuesToBeUnique(column="order_id"))])

    [row] = result.rows
    assert row["success"] is False
    assert row["unexpected_count"] == 4
    assert json.loads(row["sample_keys"]) == [
        {"line_id": 2},
        {"line_id": 3},
        {"line_id": 4},
        {"line_id": 5},
    ]


def test_compound_key_samples_use_all_key_columns():
    frame = orders().assign(order_id=[10, 10, 20, 30, 30])
    checks = [Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=["order_id", "sku"]))]
    result = validate(frame, checks, key_columns=("line_id", "sku"))

    [row] = result.rows
    # (10, A) twice on lines 1, 2; (30, B) twice on lines 4, 5; (20, B) once.
    assert row["column_name"] == "order_id,sku"
    assert row["unexpected_count"] == 4
    assert json.loads(row["sample_keys"]) == [
        {"line_id": 1, "sku": "A"},
        {"line_id": 2, "sku": "A"},
        {"line_id": 4, "sku": "B"},
        {"line_id": 5, "sku": "B"},
    ]


def test_passing_checks_pass_with_no_samples():
    checks = [
        Check(gxe.ExpectColumnValuesToBeUnique(column="line_id")),
        Check(gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=10)),
    ]
    result = validate(orders(), checks)

    assert result.passed is True
    assert result.failures == []
    assert [row["success"] for row in result.rows] == [True, True]
    assert [row["unexpected_count"] for row in result.rows] == [0, None]
    assert [json.loads(row["sample_keys"]) for row in result.rows] == [[], []]
    assert result.rows[1]["column_name"] is None  # table-level
    assert json.loads(result.rows[1]["observed_value"]) == 5
    assert "passed all 2 checks" in result.summary()


def test_warn_failure_is_recorded_but_does_not_block(tmp_path):
    checks = [Check(gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), severity="warn")]
    result = run_gate(
        orders(),
        checks,
        **WHERE,
        run_id="run-1",
        key_columns=["line_id"],
        warehouse_path=tmp_path / "warehouse.duckdb",
    )

    assert result.passed is True
    [failure] = result.failures
    assert (failure["severity"], failure["unexpected_count"]) == ("warn", 1)
    assert json.loads(failure["sample_keys"]) == [{"line_id": 4}]
    table = stored(tmp_path / "warehouse.duckdb")
    assert table[["severity", "success", "unexpected_count"]].to_dict("records") == [
        {"severity": "warn", "success": False, "unexpected_count": 1}
    ]


def test_same_expectation_type_on_several_columns_keeps_each_checks_severity():
    # order_id: 2 nulls (warn); shipping_id: no such column (warn); customer_id: 1 null
    # (error); line_id: none (error). GX reports checks that raised first, so its result
    # order is not the checks' order.
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), severity="warn"),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="shipping_id"), severity="warn"),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), severity="error"),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="line_id"), severity="error"),
    ]
    result = validate(orders(), checks)

    got = [
        (row["column_name"], row["severity"], row["success"], row["unexpected_count"])
        for row in result.rows
    ]
    assert got == [
        ("order_id", "warn", False, 2),
        ("shipping_id", "warn", False, None),
        ("customer_id", "error", False, 1),
        ("line_id", "error", True, 0),
    ]
    assert result.passed is False  # customer_id is an error

    without_customer = checks[:2] + checks[3:]
    assert validate(orders(), without_customer).passed is True  # only warn checks fail


def test_checks_are_reusable_and_not_modified():
    expectation = gxe.ExpectColumnValuesToNotBeNull(column="order_id", meta={"owner": "sales"})
    checks = [Check(expectation, severity="warn")]

    first = validate(orders(), checks)
    second = validate(orders(), checks)

    assert first.rows[0]["unexpected_count"] == second.rows[0]["unexpected_count"] == 2
    assert expectation.meta == {"owner": "sales"}
    assert expectation.id is None
    assert expectation.severity == "critical"  # GX's own default, untouched


def test_missing_column_fails_cleanly_and_other_checks_still_run():
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="shipping_id")),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
    ]
    result = validate(orders(), checks)

    missing, present = result.rows
    assert missing["column_name"] == "shipping_id"
    assert missing["success"] is False
    assert missing["unexpected_count"] is None
    assert json.loads(missing["sample_keys"]) == []
    assert "shipping_id" in json.loads(missing["observed_value"])["error"]
    assert "does not exist" in result.summary()
    assert present["unexpected_count"] == 2


def test_missing_key_column_is_left_out_of_samples():
    result = validate(
        orders(),
        [Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))],
        key_columns=("line_id", "no_such_key"),
    )
    assert result.rows[0]["unexpected_count"] == 2
    assert json.loads(result.rows[0]["sample_keys"]) == [{"line_id": 2}, {"line_id": 4}]


def test_without_key_columns_samples_name_the_frame_index():
    result = validate(
        orders(), [Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))], key_columns=()
    )
    assert json.loads(result.rows[0]["sample_keys"]) == [{"_index": 1}, {"_index": 3}]


def test_samples_are_bounded_at_twenty_keys():
    frame = pd.DataFrame({"line_id": range(1, 31), "order_id": [None] * 30})
    result = validate(frame, [Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))])

    assert result.rows[0]["unexpected_count"] == 30
    assert json.loads(result.rows[0]["sample_keys"]) == [{"line_id": i} for i in range(1, 21)]


def test_keys_of_numpy_decimal_and_timestamp_types_are_json():
    frame = pd.DataFrame(
        {
            "order_day": pd.to_datetime(["2024-03-05", "2024-03-05"]),
            "order_no": np.array([7, 8], dtype=np.int64),
            "amount": [decimal.Decimal("12.50"), None],
        }
    )
    result = validate(
        frame,
        [Check(gxe.ExpectColumnValuesToNotBeNull(column="amount"))],
        key_columns=("order_day", "order_no"),
    )
    assert json.loads(result.rows[0]["sample_keys"]) == [
        {"order_day": "2024-03-05T00:00:00", "order_no": 8}
    ]


def test_to_json_handles_pandas_numpy_and_decimal_values():
    value = {
        "n": np.int64(3),
        "f": np.float64(1.5),
        "nan": float("nan"),
        "d": decimal.Decimal("10.10"),
        "ts": pd.Timestamp("2024-03-05 10:30"),
        "day": dt.date(2024, 3, 5),
        "nat": pd.NaT,
        "dt64": np.datetime64("2024-03-05T00:00:00.000000000"),
        "arr": np.array([1, 2]),
        "flag": np.bool_(True),
    }
    assert json.loads(to_json(value)) == {
        "n": 3,
        "f": 1.5,
        "nan": None,
        "d": "10.10",
        "ts": "2024-03-05T10:30:00",
        "day": "2024-03-05",
        "nat": None,
        "dt64": "2024-03-05T00:00:00",
        "arr": [1, 2],
        "flag": True,
    }


def test_rows_land_in_quality_validation_results(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), severity="warn"),
        Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
    ]
    result = validate(orders(), checks)
    record_results(result, path)

    table = stored(path)
    assert list(table.columns) == [name for name, _ in RESULT_COLUMNS]
    with duckdb.connect(str(path)) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'quality' and table_name = 'validation_results'"
            ).fetchall()
        )
    assert types == {name: kind for name, kind in RESULT_COLUMNS}
    first = table.iloc[0]
    assert first["stage"] == "raw" and first["source"] == "shop_db"
    assert first["entity"] == "orders" and first["run_id"] == "run-1"
    assert first["ds"] == pd.Timestamp("2024-03-05")
    assert first["expectation"] == "expect_column_values_to_not_be_null"
    assert first["column_name"] == "order_id"
    assert (first["severity"], bool(first["success"]), first["unexpected_count"]) == (
        "warn",
        False,
        2,
    )
    assert json.loads(first["sample_keys"]) == [{"line_id": 2}, {"line_id": 4}]
    assert json.loads(first["kwargs"]) == {"column": "order_id"}
    assert pd.notna(first["validated_at"])
    second = table.iloc[1]
    assert second["expectation"] == "expect_table_row_count_to_be_between"
    assert second["column_name"] is None
    assert json.loads(second["observed_value"]) == 5
    assert bool(second["success"]) is True


def test_rerun_with_same_run_id_replaces_its_rows_and_other_runs_add_history(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
        Check(gxe.ExpectColumnValuesToBeUnique(column="line_id")),
    ]
    record_results(validate(orders(), checks, run_id="run-1"), path)
    record_results(validate(orders(), checks, run_id="run-1"), path)
    assert len(stored(path)) == 2

    fixed = orders().assign(order_id=[10, 11, 20, 21, 22])
    record_results(validate(fixed, checks, run_id="run-1"), path)
    table = stored(path)
    assert len(table) == 2
    assert table["success"].tolist() == [True, True]  # the rerun's outcome, not the first one's

    record_results(validate(orders(), checks, run_id="run-2"), path)
    assert stored(path)["run_id"].tolist() == ["run-1", "run-1", "run-2", "run-2"]


def test_a_second_suite_on_the_same_partition_and_run_keeps_the_first_suites_rows(tmp_path):
    """A curated output is validated by its suite, then by its reconciliation: both stay."""
    path = tmp_path / "warehouse.duckdb"
    suite = [Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))]
    reconciliation = [Check(gxe.ExpectColumnValuesToBeUnique(column="line_id"))]
    record_results(validate(orders(), suite, run_id="run-1"), path)
    record_results(validate(orders(), reconciliation, run_id="run-1"), path)
    assert sorted(stored(path)["expectation"]) == [
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
    ]


def test_run_gate_raises_gate_failed_naming_what_failed_and_still_records(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
        Check(gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), severity="warn"),
        Check(gxe.ExpectColumnValuesToBeUnique(column="line_id")),
    ]
    with pytest.raises(GateFailed) as raised:
        run_gate(
            orders(),
            checks,
            **WHERE,
            run_id="run-9",
            key_columns=["line_id"],
            warehouse_path=path,
        )

    message = str(raised.value)
    for part in (
        "raw",
        "shop_db/orders",
        "ds=2024-03-05",
        "run-9",
        "expect_column_values_to_not_be_null",
        "column order_id",
        '{"line_id": 2}',
        '{"line_id": 4}',
        "[warn] expect_column_values_to_not_be_null on column customer_id",
    ):
        assert part in message, part
    assert "expect_column_values_to_be_unique" not in message  # it passed
    assert len(message.splitlines()) == 3  # header + one line per failure
    assert raised.value.result.passed is False
    assert len(stored(path)) == 3

    copied = pickle.loads(pickle.dumps(raised.value))
    assert isinstance(copied.result, GateResult)
    assert str(copied) == message


def test_bad_severity_and_bad_ds_are_refused():
    with pytest.raises(ValueError, match="severity"):
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), severity="fatal")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        validate_batch(
            orders(),
            [Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))],
            stage="raw",
            source="shop_db",
            entity="orders",
            ds="05/03/2024",
            run_id="run-1",
            key_columns=["line_id"],
        )


def test_time_one_gate_on_ten_thousand_rows(capsys):
    """Measured and printed, not asserted (DESIGN §4: speed belongs in benchmarks)."""
    n = 10_000
    frame = pd.DataFrame(
        {
            "line_id": np.arange(n),
            "order_id": np.where(np.arange(n) % 100 == 0, np.nan, np.arange(n) // 2),
            "customer_id": [f"c{i % 700}" for i in range(n)],
            "amount": np.arange(n) * 0.5,
        }
    )
    checks = [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
        Check(gxe.ExpectColumnValuesToBeUnique(column="line_id")),
        Check(gxe.ExpectColumnValuesToBeUnique(column="order_id"), severity="warn"),
        Check(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0)),
        Check(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
    ]
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = validate(frame, checks)
        timings.append(time.perf_counter() - started)
    assert result.rows[0]["unexpected_count"] == 100
    with capsys.disabled():
        print(
            "\none gate, 10k rows, 5 checks: " + ", ".join(f"{seconds:.3f}s" for seconds in timings)
        )

"""Gates in one long-lived process share one GX context: every gate gives the rows a fresh
context gives, and leaves nothing behind for the next. Real GX, real DuckDB files;
expected values worked out by hand."""

from __future__ import annotations

import json
import threading

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
import pytest

from caravan.quality.contexts import reset_gx_contexts, shared_gx_context
from caravan.quality.docs import DataDocs
from caravan.quality.gate import Check, GateResult, record_results, validate_batch


def orders() -> pd.DataFrame:
    """Lines 2 and 4 have no order_id; customer c2 placed lines 2 and 3."""
    return pd.DataFrame(
        {
            "line_id": [1, 2, 3, 4],
            "order_id": [10, None, 20, None],
            "customer_id": ["c1", "c2", "c2", "c4"],
        }
    )


def customers() -> pd.DataFrame:
    """Customer 7's email is missing; b@x appears twice (customers 5 and 8)."""
    return pd.DataFrame(
        {
            "customer_id": [5, 6, 7, 8],
            "email": ["b@x", "a@x", None, "b@x"],
        }
    )


#: (batch, checks, entity, key columns) of three gates in a row: orders, customers, then
#: orders again with other checks on the same entity, partition and run.
GATES = [
    (
        orders,
        lambda: [
            Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
            Check(gxe.ExpectColumnValuesToBeUnique(column="line_id")),
        ],
        "orders",
        ["line_id"],
    ),
    (
        customers,
        lambda: [
            Check(gxe.ExpectColumnValuesToNotBeNull(column="email"), severity="warn"),
            Check(gxe.ExpectColumnValuesToBeUnique(column="email")),
            Check(gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=3)),
        ],
        "customers",
        ["customer_id"],
    ),
    (
        orders,
        lambda: [Check(gxe.ExpectColumnValuesToBeUnique(column="customer_id"))],
        "orders",
        ["line_id"],
    ),
]


def run(gate, docs: DataDocs | None = None, run_id: str = "run-1") -> GateResult:
    frame, checks, entity, keys = gate
    return validate_batch(
        frame(),
        checks(),
        stage="raw",
        source="shop_db",
        entity=entity,
        ds="2026-11-03",
        run_id=run_id,
        key_columns=keys,
        data_docs=docs,
    )


def outcome(result: GateResult) -> list[dict]:
    """The rows but their time, which differs from run to run."""
    return [{k: v for k, v in row.items() if k != "validated_at"} for row in result.rows]


def summary(result: GateResult) -> list[tuple]:
    return [
        (
            row["expectation"],
            row["column_name"],
            row["severity"],
            row["success"],
            row["unexpected_count"],
            json.loads(row["sample_keys"]),
        )
        for row in result.rows
    ]


# What each gate finds, by hand.
EXPECTED = [
    [
        ("expect_column_values_to_not_be_null", "order_id", "error", False, 2,
         [{"line_id": 2}, {"line_id": 4}]),
        ("expect_column_values_to_be_unique", "line_id", "error", True, 0, []),
    ],
    [
        ("expect_column_values_to_not_be_null", "email", "warn", False, 1, [{"customer_id": 7}]),
        ("expect_column_values_to_be_unique", "email", "error", False, 2,
         [{"customer_id": 5}, {"customer_id": 8}]),
        ("expect_table_row_count_to_be_between", None, "error", False, None, []),
    ],
    [
        ("expect_column_values_to_be_unique", "customer_id", "error", False, 2,
         [{"line_id": 2}, {"line_id": 3}]),
    ],
]  # fmt: skip


@pytest.mark.parametrize("with_docs", [False, True], ids=["no docs", "docs"])
def test_gates_in_a_row_give_what_a_fresh_context_gives(tmp_path, with_docs):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx") if with_docs else None

    fresh = []
    for gate in GATES:
        reset_gx_contexts()  # each gate in a context of its own, as before contexts were shared
        fresh.append(run(gate, docs))
    reset_gx_contexts()
    shared = [run(gate, docs) for gate in GATES]

    assert [summary(result) for result in shared] == EXPECTED
    assert [outcome(result) for result in shared] == [outcome(result) for result in fresh]
    # The third gate's suite is its own: the first gate's checks on the same entity are gone.
    assert len(shared[2].rows) == 1
    if with_docs:
        assert all(result.docs_url for result in shared)
        # GX's stored results of orders, by run time: the first gate's two expectations, the
        # third gate's one (fresh, then shared).
        stored = (docs.store_dir / "validations" / "raw" / "shop_db" / "orders").rglob("*.json")
        results = [json.loads(path.read_text())["results"] for path in sorted(stored)]
        assert [len(expectations) for expectations in results] == [2, 1, 2, 1]


def test_a_gate_leaves_nothing_in_the_shared_context(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    for gate in GATES:
        run(gate)
        run(gate, docs)

    for data_docs in (None, docs):
        context = shared_gx_context(data_docs)
        assert list(context.data_sources.all()) == []
        assert dict(context.config.fluent_datasources) == {}
        assert list(context.suites.all()) == []
        assert list(context.validation_definitions.all()) == []
        assert list(context.checkpoints.all()) == []
    # Without Data Docs GX's results were in memory only, and went with their gate; with them
    # they are on disk, one a gate run.
    assert shared_gx_context(None).validation_results_store.list_keys() == []
    assert len(list((docs.store_dir / "validations").rglob("*.json"))) == 3


def test_what_a_gate_that_died_half_way_left_is_replaced():
    reset_gx_contexts()
    context = shared_gx_context(None)
    # A suite of the same name, with another check, left behind in the context.
    context.suites.add(
        gx.ExpectationSuite(
            name="raw.shop_db.orders",
            expectations=[gxe.ExpectColumnValuesToBeNull(column="order_id")],
        )
    )
    context.data_sources.add_pandas("raw.shop_db")

    result = run(GATES[0])

    assert summary(result) == EXPECTED[0]
    assert list(context.suites.all()) == []
    assert list(context.data_sources.all()) == []


def test_gates_in_two_threads_at_once_give_their_own_rows(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    results: dict[int, list[GateResult]] = {}
    start = threading.Barrier(2)

    def gates(thread: int) -> None:
        start.wait()
        results[thread] = [run(gate, docs, run_id=f"run-{thread}") for gate in GATES * 2]

    threads = [threading.Thread(target=gates, args=(thread,)) for thread in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for thread in (1, 2):
        assert [summary(result) for result in results[thread]] == EXPECTED * 2
        assert {row["run_id"] for result in results[thread] for row in result.rows} == {
            f"run-{thread}"
        }


# Recording: one statement deletes an earlier attempt's rows, one inserts.


def stored(path) -> list[tuple]:
    with duckdb.connect(str(path)) as con:
        return con.execute(
            "select entity, ds::varchar, run_id, expectation, kwargs, unexpected_count"
            " from quality.validation_results order by entity, run_id, expectation, kwargs"
        ).fetchall()


def hand_made(entity: str, run_id: str, checks: list[tuple], ds: str = "2026-11-03"):
    """A gate's result with one row per (expectation, kwargs, unexpected_count)."""
    rows = [
        {
            "stage": "raw",
            "source": "shop_db",
            "entity": entity,
            "ds": pd.Timestamp(ds).date(),
            "expectation": expectation,
            "column_name": None,
            "severity": "error",
            "success": not unexpected,
            "observed_value": "null",
            "unexpected_count": unexpected,
            "sample_keys": "[]",
            "run_id": run_id,
            "validated_at": pd.Timestamp("2026-11-04 01:02:03").to_pydatetime(),
            "kwargs": kwargs,
        }
        for expectation, kwargs, unexpected in checks
    ]
    return GateResult("raw", "shop_db", entity, ds, run_id, rows)


def test_a_retry_replaces_the_same_checks_of_its_run_and_nothing_else(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    first = [
        ("expect_a", '{"column": "x"}', 3),
        ("expect_a", '{"column": "y"}', 0),
        ("expect_b", None, None),  # no kwargs: matched as null
    ]
    record_results(hand_made("orders", "run-1", first), path)
    record_results(hand_made("orders", "run-2", first), path)  # another run: history
    record_results(hand_made("items", "run-1", first), path)  # another entity
    record_results(hand_made("orders", "run-1", first, ds="2026-11-02"), path)  # another ds

    # The retry of run-1 on orders, 2026-11-03: x now passes, b fails; y was not checked again.
    retry = [("expect_a", '{"column": "x"}', 0), ("expect_b", None, 5)]
    record_results(hand_made("orders", "run-1", retry), path)

    rows = stored(path)
    assert len(rows) == 4 * 3  # 12 rows before, 2 replaced by 2
    orders_run_1 = [row for row in rows if row[:3] == ("orders", "2026-11-03", "run-1")]
    assert orders_run_1 == [
        ("orders", "2026-11-03", "run-1", "expect_a", '{"column": "x"}', 0),
        ("orders", "2026-11-03", "run-1", "expect_a", '{"column": "y"}', 0),
        ("orders", "2026-11-03", "run-1", "expect_b", None, 5),
    ]
    others = [row for row in rows if row[:3] != ("orders", "2026-11-03", "run-1")]
    assert sorted(row[5] for row in others if row[3] == "expect_a") == [0, 0, 0, 3, 3, 3]

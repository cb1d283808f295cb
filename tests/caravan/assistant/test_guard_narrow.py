"""The assistant's narrow gate (query_guard.run_assistant_query) on a real DuckDB warehouse.

The warehouse holds two analytics tables, a `private` schema and a `main` table; what the
assistant may read is the analytics tables only (and tables a caller adds by name).
Expected rows and SQL texts are worked out by hand from the rows inserted here.
"""

from __future__ import annotations

import time
from decimal import Decimal

import duckdb
import pytest

from caravan.query_guard import (
    QueryRefused,
    QueryTimedOut,
    check_assistant_query,
    run_assistant_query,
    run_query,
)

ALLOWED = frozenset({"analytics.orders", "analytics.numbers"})


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema analytics")
        con.execute("create schema private")
        con.execute("create table analytics.orders (order_id integer, net_revenue decimal(10, 2))")
        con.execute("insert into analytics.orders values (1, 20.00), (2, 5.50), (3, 7.25)")
        con.execute("create table analytics.numbers as select range as n from range(1000)")
        con.execute("create table private.salaries (employee varchar, salary integer)")
        con.execute("insert into private.salaries values ('Ada', 100000)")
        con.execute("create table main.orders (order_id integer)")  # same name, other schema
    return path


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # An unqualified allowed name is read from analytics, and a LIMIT is added.
        ("select * from orders", "SELECT * FROM analytics.orders LIMIT 50"),
        # A smaller literal LIMIT is kept; a larger one, or one that is not a plain number,
        # is lowered to the maximum.
        ("select * from analytics.orders limit 2", "SELECT * FROM analytics.orders LIMIT 2"),
        ("select * from analytics.orders limit 5000", "SELECT * FROM analytics.orders LIMIT 50"),
        ("select n from numbers limit (select 9999)", "SELECT n FROM analytics.numbers LIMIT 50"),
        ("select n from numbers limit 10 percent", "SELECT n FROM analytics.numbers LIMIT 50"),
        # A CTE's name is not a table: it stays as written.
        (
            "with big as (select * from orders where net_revenue > 6) select count(*) from big",
            "WITH big AS (SELECT * FROM analytics.orders WHERE net_revenue > 6)"
            " SELECT COUNT(*) FROM big LIMIT 50",
        ),
        # The LIMIT goes on the whole union, not on its last branch.
        (
            "select order_id from orders union all select n from numbers",
            "SELECT order_id FROM analytics.orders UNION ALL SELECT n FROM analytics.numbers"
            " LIMIT 50",
        ),
    ],
)
def test_check_assistant_query_qualifies_and_limits(sql, expected):
    assert check_assistant_query(sql, ALLOWED, max_rows=50) == expected


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("describe analytics.orders", "DESCRIBE is not a SELECT"),
        ("show tables", "SHOW is not a SELECT"),
        ("summarize analytics.orders", "SUMMARIZE is not a SELECT"),
        ("select * from private.salaries", "private.salaries is not one of the analytics"),
        ("select * from main.orders", "main.orders is not one of the analytics"),
        ("select * from information_schema.tables", "information_schema.tables is not one"),
        ("select * from warehouse.analytics.orders", "warehouse.analytics.orders is not one"),
        ("select * from range(5)", "is a table function"),
        ("select version()", "version tells about the system"),
        ("select current_user", "current_user tells about the system"),
        ("select user", "user tells about the system"),
        ("select * from duckdb_tables()", "is a table function"),
        ("select * from duckdb_columns", "duckdb_columns is not one of the analytics"),
        ("select getvariable('x')", "getvariable tells about the system"),
        ("select 1; select 2", "the text holds 2 statements"),
        ("drop table analytics.orders", "DROP changes the warehouse"),
        ("select * from read_csv('/etc/passwd')", "read_csv reads files"),
        # A CTE named like an allowed table cannot hide another schema's table ...
        ("with orders as (select * from private.salaries) select * from orders", "private"),
        # ... and a CTE's name out of its scope is a table lookup, refused.
        ("select * from (with salaries as (select 1) select 1) as t, salaries", "salaries is"),
    ],
)
def test_check_assistant_query_refuses(sql, reason):
    with pytest.raises(QueryRefused, match="only a single SELECT over the analytics") as refused:
        check_assistant_query(sql, ALLOWED)
    assert reason in refused.value.reason


def test_run_assistant_query_returns_rows_from_analytics(warehouse):
    result = run_assistant_query(
        warehouse, "select order_id, net_revenue from orders where net_revenue > 6 order by 1"
    )
    assert result.columns == ["order_id", "net_revenue"]
    assert result.rows == [(1, Decimal("20.00")), (3, Decimal("7.25"))]


def test_run_assistant_query_stops_at_max_rows(warehouse):
    result = run_assistant_query(warehouse, "select n from numbers order by n", max_rows=3)
    assert result.rows == [(0,), (1,), (2,)]


def test_the_allow_list_is_the_analytics_tables_plus_the_callers(warehouse):
    with pytest.raises(QueryRefused, match="private.salaries is not one"):
        run_assistant_query(warehouse, "select employee from private.salaries")
    result = run_assistant_query(
        warehouse,
        "select employee, salary from private.salaries",
        extra_tables=["Private.Salaries"],
    )
    assert result.rows == [("Ada", 100000)]


def test_a_long_query_is_interrupted_at_the_timeout(warehouse):
    began = time.monotonic()
    with pytest.raises(QueryTimedOut, match="ran longer than 0.5 s"):
        run_assistant_query(
            warehouse,
            "select count(*) from numbers as a, numbers as b, numbers as c, numbers as d",
            timeout_seconds=0.5,
        )
    assert time.monotonic() - began < 5
    # The warehouse still answers afterwards.
    assert run_assistant_query(warehouse, "select count(*) from numbers").rows == [(1000,)]


def test_caravan_sqls_gate_is_unchanged(warehouse):
    # `caravan sql` still reads every schema and DESCRIBE; only the assistant's is narrow.
    assert run_query(warehouse, "select salary from private.salaries").rows == [(100000,)]
    assert run_query(warehouse, "describe analytics.orders").rows[0][:2] == (
        "order_id",
        "INTEGER",
    )

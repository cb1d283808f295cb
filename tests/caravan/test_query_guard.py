"""`caravan sql` only reads the warehouse: the query guard and the hardened connection.

Each refused query runs through the real CLI on a real DuckDB warehouse in tmp_path,
next to a file standing for a published lake file and a second database; the test then
checks that every file under tmp_path (the working directory too) is byte for byte as
it was and that no file appeared.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from caravan.cli import main
from caravan.query_guard import QueryRefused, check_query, connect_read_only, run_query

LAKE_CSV = "order_id,net_revenue\n1,20.00\n2,5.50\n"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    monkeypatch.delenv("CARAVAN_TARGET", raising=False)
    # A relative path in a query (`to 'x.csv'`) would land here, where the snapshot looks.
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema analytics")
        con.execute("create table analytics.customers (customer_id integer, name varchar)")
        con.execute("insert into analytics.customers values (10, 'Ada'), (11, 'Bo')")
        con.execute(
            "create table analytics.orders"
            " (order_id integer, customer_id integer, net_revenue decimal(10, 2))"
        )
        con.execute(
            "insert into analytics.orders values (1, 10, 20.00), (2, 10, 5.50), (3, 11, 7.25)"
        )
    lake_file = tmp_path / "lake" / "curated" / "sales" / "orders" / "ds=2026-11-01" / "part-0.csv"
    lake_file.parent.mkdir(parents=True)
    lake_file.write_text(LAKE_CSV)
    with duckdb.connect(str(tmp_path / "other.duckdb")) as con:
        con.execute("create table kept (a integer)")
        con.execute("insert into kept values (1)")
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


LAKE = "lake/curated/sales/orders/ds=2026-11-01/part-0.csv"

# (query, with {lake} and {other} standing for absolute paths under tmp_path; the reason)
REFUSED = [
    ("copy (select 1) to 'x.csv'", "COPY writes or reads files"),
    ("copy analytics.orders to '{lake}' (header)", "COPY writes or reads files"),
    ("select * from read_csv('/etc/passwd')", "read_csv reads files or the network"),
    ("select * from '/etc/passwd'", "'/etc/passwd' names a file"),
    ("select * from '{lake}'", "names a file"),
    ("attach '{other}' as o (read_write)", "ATTACH opens another database"),
    ("install httpfs", "INSTALL downloads an extension"),
    ("load httpfs", "LOAD loads an extension"),
    ("pragma database_list", "PRAGMA reads or changes DuckDB's settings"),
    ("set enable_external_access = true", "SET changes a setting"),
    ("select 1; select 2", "the text holds 2 statements"),
    ("select 1; copy analytics.orders to '{lake}'", "the text holds 2 statements"),
    (
        "with lake_rows as (select * from read_csv('{lake}')) select count(*) from lake_rows",
        "read_csv reads files or the network",
    ),
    (
        "select order_id from analytics.orders"
        " where order_id in (select order_id from read_csv_auto('{lake}'))",
        "read_csv_auto reads files or the network",
    ),
    (
        "select * from (select * from read_parquet('{lake}')) as lake_rows",
        "read_parquet reads files or the network",
    ),
    ("selec * form analytics.orders", "it does not parse as DuckDB SQL"),
    ("select 1 into analytics.copied", "SELECT … INTO creates a table"),
    ("create table analytics.copied as select 1", "CREATE changes the warehouse"),
    ("delete from analytics.orders", "DELETE changes the warehouse"),
    ("explain analyze select 1", "EXPLAIN is not parsed"),
    ("select current_setting('enable_external_access')", "current_setting reads or changes"),
    ("select * from query('select 1')", "query runs SQL held in a string"),
]


@pytest.mark.parametrize(("template", "reason"), REFUSED, ids=[q for q, _ in REFUSED])
def test_caravan_sql_refuses_and_changes_nothing(home, capsys, template, reason):
    query = template.format(lake=home / LAKE, other=home / "other.duckdb")
    before = snapshot(home)

    status = main(["sql", query])

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.startswith("caravan sql: refused: ")
    assert reason in err
    assert err.rstrip().endswith("only a single read of the warehouse is allowed")
    assert snapshot(home) == before
    assert (home / LAKE).read_text() == LAKE_CSV
    with duckdb.connect(str(home / "other.duckdb"), read_only=True) as con:
        assert con.execute("select * from kept").fetchall() == [(1,)]


# Expected tables worked out by hand: numbers right-aligned, text left, two spaces apart.
ALLOWED = [
    (
        "with big_orders as ("
        " select order_id, net_revenue from analytics.orders where net_revenue > 6"
        ") select order_id, net_revenue from big_orders order by order_id",
        "  order_id  net_revenue\n         1        20.00\n         3         7.25\n  (2 rows)\n",
    ),
    (
        "select customers.name, orders.order_id from analytics.orders"
        " inner join analytics.customers on orders.customer_id = customers.customer_id"
        " order by orders.order_id",
        "  name  order_id\n  Ada          1\n  Ada          2\n  Bo           3\n  (3 rows)\n",
    ),
    (
        "select customer_id, count(*) as orders, sum(net_revenue) as revenue"
        " from analytics.orders group by customer_id order by customer_id",
        "  customer_id  orders  revenue\n"
        "           10       2    25.50\n"
        "           11       1     7.25\n"
        "  (2 rows)\n",
    ),
]


@pytest.mark.parametrize(("query", "expected"), ALLOWED, ids=["cte", "join", "aggregate"])
def test_caravan_sql_prints_the_rows_of_a_read(home, capsys, query, expected):
    before = snapshot(home)

    status = main(["sql", query])

    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert out == expected
    assert snapshot(home) == before


def test_run_query_returns_the_rows_and_stops_at_the_limit(home):
    result = run_query(
        home / "warehouse.duckdb",
        "select order_id, net_revenue from analytics.orders order by order_id",
        limit=2,
    )
    assert result.columns == ["order_id", "net_revenue"]
    assert result.rows == [(1, Decimal("20.00")), (2, Decimal("5.50"))]


def test_the_statement_that_runs_is_the_one_checked_without_comments():
    # `--` runs to the end of the line, so the COPY is part of the comment for both parsers.
    assert check_query("select 1 -- */ ; copy (select 1) to 'x.csv'\n") == "SELECT 1"
    assert check_query("from analytics.orders;") == "SELECT * FROM analytics.orders"


def test_duckdbs_own_parser_must_also_see_one_select(home):
    # A PIVOT without an IN list passes the parse check, but DuckDB runs it as a CREATE
    # TYPE and a SELECT: the second parser refuses it.
    query = "select * from (pivot analytics.orders on customer_id using sum(net_revenue))"
    assert check_query(query)
    with pytest.raises(
        QueryRefused, match=r"DuckDB reads it as 2 statement\(s\) \(CREATE, SELECT\)"
    ):
        run_query(home / "warehouse.duckdb", query)


def test_the_hardened_connection_refuses_files_even_when_the_parser_would_not(home):
    lake_file = home / LAKE
    # Today's plain read-only connection reads the lake file: the config is what stops it.
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as plain:
        assert plain.execute(f"select count(*) from read_csv('{lake_file}')").fetchall() == [(2,)]
    before = snapshot(home)

    con = connect_read_only(home / "warehouse.duckdb")
    try:
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"select * from read_csv('{lake_file}')")
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"copy analytics.orders to '{lake_file}'")
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"attach '{home / 'other.duckdb'}' as o (read_write)")
        with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
            con.execute("set enable_external_access = true")
        with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
            con.execute("reset enable_external_access")
        # Still locked after the attempts, and the warehouse still reads.
        assert con.execute("select current_setting('enable_external_access')").fetchall() == [
            (False,)
        ]
        assert con.execute("select count(*) from analytics.orders").fetchall() == [(3,)]
    finally:
        con.close()
    assert snapshot(home) == before

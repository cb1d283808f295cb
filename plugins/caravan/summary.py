"""What the warehouse holds, printed for people (`caravan demo`, `caravan sql`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import duckdb

from caravan.contracts import ATTRIBUTION_MODELS
from caravan.query_guard import QueryRefused, check_query, run_query
from caravan.settings import Settings

SUMMARY_QUERIES = (
    (
        "Orders (analytics.fct_orders)",
        "select count(*) as orders, count(*) filter (where is_revenue) as revenue_orders,"
        " sum(net_revenue) filter (where is_revenue) as net_revenue"
        " from analytics.fct_orders where order_date between $start and $end",
    ),
    (
        "Ad spend (analytics.fct_ad_spend_daily)",
        "select platform, sum(spend) as spend, sum(impressions) as impressions,"
        " sum(clicks) as clicks from analytics.fct_ad_spend_daily"
        " where spend_date between $start and $end group by platform order by platform",
    ),
    (
        "Marketing ROI by channel (analytics.mart_marketing_roi, last_touch)",
        "select channel, sum(spend) as spend, sum(attributed_revenue) as attributed_revenue,"
        " round(sum(attributed_revenue) / nullif(sum(spend), 0), 2) as roas,"
        " round(sum(attributed_orders), 1) as orders,"
        " round(sum(new_customers), 1) as new_customers"
        " from analytics.mart_marketing_roi where attribution_model = 'last_touch'"
        " and report_date between $start and $end group by channel order by channel",
    ),
    (
        "Attributed revenue by channel and model (analytics.mart_marketing_roi)",
        "select channel,"
        + ",".join(
            f" sum(attributed_revenue) filter (where attribution_model = '{model}') as {model}"
            for model in ATTRIBUTION_MODELS
        )
        + " from analytics.mart_marketing_roi where report_date between $start and $end"
        " group by channel order by channel",
    ),
    (
        "Sales by category (analytics.mart_sales_daily)",
        "select category, sum(orders) as orders, sum(units) as units,"
        " sum(net_revenue) as net_revenue from analytics.mart_sales_daily"
        " where order_date between $start and $end group by category order by category",
    ),
)


def _print_table(cursor) -> None:
    _print_rows([d[0] for d in cursor.description], cursor.fetchall())


def _print_rows(columns: list[str], values: list[tuple]) -> None:
    print(format_table(columns, values))


def format_table(columns: list[str], values: list[tuple], cell: Callable[[Any], str] = str) -> str:
    """A small text table: numbers right-aligned, text left, two spaces apart; `cell`
    writes a value that is not None (None is blank)."""
    numeric = [
        bool(values)
        and all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in values)
        for i in range(len(columns))
    ]
    rows = [["" if v is None else cell(v) for v in row] for row in values]
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]

    def line(cells: list[str]) -> str:
        return (
            "  "
            + "  ".join(
                cell.rjust(width) if is_number else cell.ljust(width)
                for cell, width, is_number in zip(cells, widths, numeric, strict=True)
            ).rstrip()
        )

    lines = [line(list(columns)), *(line(row) for row in rows)]
    lines.append(f"  ({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def print_query(settings: Settings, query: str) -> int:
    """Run one read of the warehouse through the query guard; 2 if the guard refuses it."""
    try:
        check_query(query)  # refused before the warehouse is looked for
        if not settings.warehouse_path.exists():
            print(
                f"no warehouse at {settings.warehouse_path}: run `make demo` first", file=sys.stderr
            )
            return 1
        result = run_query(settings.warehouse_path, query)
    except QueryRefused as error:
        print(f"caravan sql: {error}", file=sys.stderr)
        return 2
    except duckdb.Error as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print_rows(result.columns, result.rows)
    return 0


def print_summary(settings: Settings, start: str, end: str) -> None:
    # Read-write, like the in-process dbt connection that may still hold the file:
    # DuckDB refuses two connections to one file with different configurations.
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for title, query in SUMMARY_QUERIES:
            print(f"\n{title}, {start} .. {end}")
            _print_table(con.execute(query, {"start": start, "end": end}))
    finally:
        con.close()
    print(f"""
Where to look next:
  .venv/bin/caravan sql "select * from analytics.mart_marketing_roi limit 10"
  .venv/bin/caravan up        Airflow's UI on http://localhost:8080 (DAGs, runs, logs)
  make docs                   dbt's docs: every mart and column, the lineage graph
  lake:       {settings.lake_url}
  warehouse:  {settings.warehouse_path}
              (schemas landing, staging, intermediate, snapshots, marts, analytics, quality)
  .venv/bin/caravan quality   the latest quality gate outcome per stage, source and entity
  data docs:  {settings.data_docs_dir / "index.html"}  (every gate run, in a browser)
  quality:    select * from quality.validation_results
  logs:       {settings.logs_dir}""")

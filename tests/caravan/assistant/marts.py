"""The `analytics` marts' columns the assistant's tests build by hand (the semantic
models read these), and the warehouse they write: each test file brings its own rows."""

from __future__ import annotations

from pathlib import Path

import duckdb

COLUMNS = {
    "fct_ad_spend_daily": (
        "spend_date date, platform varchar, campaign_id varchar, campaign_name varchar, "
        "spend decimal(18, 2), impressions bigint, clicks bigint, conversions decimal(18,"
        " 4)"
    ),
    "fct_orders": (
        "order_id varchar, customer_key varchar, order_date date, status varchar, "
        "gross_revenue decimal(18, 2), discount_amount decimal(18, 2), net_revenue "
        "decimal(18, 2), units bigint, region varchar, is_revenue boolean, "
        "is_new_customer boolean"
    ),
    "mart_funnel_daily": (
        "session_date date, channel varchar, sessions bigint, add_to_carts bigint, "
        "checkouts bigint, purchases bigint"
    ),
    "mart_knowledge_chunks": (
        "chunk_id varchar, kind varchar, ref varchar, title varchar, body varchar, "
        "updated_at timestamp"
    ),
    "mart_marketing_roi": (
        "report_date date, channel varchar, campaign_id varchar, attribution_model "
        "varchar, spend decimal(18, 2), attributed_revenue decimal(18, 2), "
        "attributed_orders decimal(18, 4), new_customers decimal(18, 4)"
    ),
    "mart_sales_daily": (
        "order_date date, category varchar, region varchar, orders bigint, units bigint, "
        "gross_revenue decimal(18, 2), net_revenue decimal(18, 2)"
    ),
}


def write_analytics(warehouse: Path, rows: dict[str, list[tuple]]) -> None:
    """Create the `analytics` schema in the DuckDB file `warehouse`, with a table of
    COLUMNS for each of `rows`, holding those rows."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema analytics")
        for table, table_rows in rows.items():
            con.execute(f"create table analytics.{table} ({COLUMNS[table]})")
            marks = ", ".join("?" * len(table_rows[0]))
            con.executemany(f"insert into analytics.{table} values ({marks})", table_rows)

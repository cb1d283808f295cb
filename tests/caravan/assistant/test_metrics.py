"""The metric path of `caravan ask`: the offline parser, MetricFlow's SQL from dbt's real
semantic manifest (one `dbt parse` of the project per session), run through the query
guard on a small warehouse made here, whose `analytics` marts hold rows chosen so every
expected figure can be worked out by hand."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

import duckdb
import jsonschema
import pytest

from caravan.assistant.metrics import (
    DIMENSIONS_BY_MODEL,
    METRIC_QUERY_JSON_SCHEMA,
    METRICS_BY_MODEL,
    MetricQuery,
    compile_metric_sql,
    latest_data_date,
    metric_catalog,
    metric_query_from_choice,
    parse_metric_question,
    run_metric_query,
)
from caravan.query_guard import QueryRefused
from caravan.settings import Settings
from tests.caravan.assistant.marts import write_analytics

AS_OF = date(2026, 11, 7)
LAST_WEEK = (date(2026, 11, 1), date(2026, 11, 7))
MODEL = "{{ Dimension('marketing_roi__attribution_model') }}"
LAST_TOUCH = f"{MODEL} = 'last_touch'"

# Rows of the marts the semantic models read (columns: marts.COLUMNS; see each test's figures).
TABLES = {
    "fct_orders": [
        (
            "o1",
            "k1",
            "2026-11-01",
            "delivered",
            "100.00",
            "10.00",
            "90.00",
            2,
            "UK",
            True,
            True,
        ),
        ("o2", "k2", "2026-11-01", "cancelled", "50.00", "0.00", "50.00", 1, "CA", False, True),
        ("o3", "k1", "2026-11-02", "shipped", "80.00", "0.00", "80.00", 1, "UK", True, False),
        (
            "o4",
            "k3",
            "2026-11-03",
            "refunded",
            "40.00",
            "0.00",
            "40.00",
            1,
            "US-West",
            False,
            False,
        ),
        (
            "o5",
            "k3",
            "2026-11-07",
            "placed",
            "25.50",
            "0.50",
            "25.00",
            3,
            "US-West",
            True,
            False,
        ),
        (
            "o6",
            "k4",
            "2026-10-31",
            "delivered",
            "500.00",
            "0.00",
            "500.00",
            1,
            "UK",
            True,
            True,
        ),
        ("o7", "k4", "2026-11-08", "placed", "10.00", "0.00", "10.00", 1, "UK", True, False),
    ],
    "mart_marketing_roi": [
        ("2026-11-01", "google_ads", "c1", "last_touch", "100.00", "250.00", "2", "1"),
        ("2026-11-01", "google_ads", "c1", "first_touch", "100.00", "150.00", "1", "1"),
        ("2026-11-03", "google_ads", "c2", "last_touch", "50.50", "100.25", "1", "0"),
        ("2026-11-03", "google_ads", "c2", "first_touch", "50.50", "0.00", "0", "0"),
        ("2026-11-07", "meta_ads", "m1", "last_touch", "80.00", "40.10", "1", "1"),
        ("2026-11-07", "meta_ads", "m1", "first_touch", "80.00", "120.00", "1", "1"),
        ("2026-11-05", "direct", "(none)", "last_touch", "0.00", "300.00", "3", "2"),
        ("2026-11-05", "direct", "(none)", "first_touch", "0.00", "310.35", "3", "2"),
        ("2026-10-31", "google_ads", "c1", "last_touch", "999.00", "999.00", "9", "9"),
    ],
    "fct_ad_spend_daily": [
        ("2026-11-01", "google_ads", "c1", "Brand", "100.00", 1000, 50, "2.5"),
        ("2026-11-03", "google_ads", "c2", "Generic", "50.50", 400, 20, "1"),
        ("2026-11-07", "meta_ads", "m1", "Prospecting", "80.00", 3000, 30, "1"),
        ("2026-10-26", "google_ads", "c1", "Brand", "10.00", 100, 5, "0"),
    ],
    "mart_funnel_daily": [
        ("2026-11-01", "google_ads", 100, 20, 10, 5),
        ("2026-11-07", "google_ads", 50, 10, 5, 3),
        ("2026-11-07", "direct", 200, 30, 12, 6),
    ],
    "mart_sales_daily": [
        ("2026-11-01", "footwear", "UK", 1, 1, "60.00", "54.00"),
        ("2026-11-01", "apparel", "UK", 1, 1, "40.00", "36.00"),
        ("2026-11-02", "footwear", "UK", 1, 1, "80.00", "80.00"),
    ],
}


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """A warehouse of hand-made `analytics` marts, and the project's semantic manifest
    (dbt parse, once). CARAVAN_PROJECT_DIR, if set, names the checkout to parse."""
    home = tmp_path_factory.mktemp("caravan_home")
    environ = {"CARAVAN_HOME": str(home)}
    if os.environ.get("CARAVAN_PROJECT_DIR"):
        environ["CARAVAN_PROJECT_DIR"] = os.environ["CARAVAN_PROJECT_DIR"]
    settings = Settings.from_env(environ)
    write_analytics(settings.warehouse_path, TABLES)
    return settings


def run(settings: Settings, query: MetricQuery) -> list[tuple]:
    return run_metric_query(settings, query).rows


# -- the offline parser ------------------------------------------------------------------

PARSED = [
    (
        "What was net revenue by channel last week under last touch?",
        MetricQuery(
            ("attributed_revenue",),
            ("marketing_roi__channel",),
            *LAST_WEEK,
            where=(LAST_TOUCH,),
            order_by=("-attributed_revenue",),
        ),
    ),
    (
        "net revenue last week",
        MetricQuery(("net_revenue",), (), *LAST_WEEK),
    ),
    (
        "revenue yesterday",
        MetricQuery(("net_revenue",), (), AS_OF, AS_OF),
    ),
    (
        "ROAS by channel in the last 3 days",
        MetricQuery(
            ("roas",),
            ("marketing_roi__channel",),
            date(2026, 11, 5),
            AS_OF,
            where=(LAST_TOUCH,),
            order_by=("-roas",),
        ),
    ),
    (
        "spend by platform on 2026-11-03",
        MetricQuery(
            ("spend",),
            ("ad_spend__platform",),
            date(2026, 11, 3),
            date(2026, 11, 3),
            order_by=("-spend",),
        ),
    ),
    (
        "How many orders by status between Nov 2 and Nov 4?",
        MetricQuery(
            ("orders",),
            ("order__status",),
            date(2026, 11, 2),
            date(2026, 11, 4),
            order_by=("-orders",),
        ),
    ),
    (
        "daily net revenue in November",
        MetricQuery(
            ("net_revenue",),
            ("metric_time__day",),
            date(2026, 11, 1),
            date(2026, 11, 30),
            order_by=("metric_time__day",),
        ),
    ),
    (
        "top 3 campaigns by spend last week",
        MetricQuery(
            ("spend",), ("ad_spend__campaign_id",), *LAST_WEEK, order_by=("-spend",), limit=3
        ),
    ),
    (
        "conversion rate by channel over the past 7 days",
        MetricQuery(
            ("conversion_rate",), ("funnel__channel",), *LAST_WEEK, order_by=("-conversion_rate",)
        ),
    ),
    (
        "revenue by category from 2026-11-01 to 2026-11-02",
        MetricQuery(
            ("sales_net_revenue",),
            ("sales_daily__category",),
            date(2026, 11, 1),
            date(2026, 11, 2),
            order_by=("-sales_net_revenue",),
        ),
    ),
    (
        "clicks and impressions by week",
        MetricQuery(
            ("clicks", "impressions"), ("metric_time__week",), order_by=("metric_time__week",)
        ),
    ),
    (
        "Which channel had the most sessions last week?",
        MetricQuery(
            ("sessions",), ("funnel__channel",), *LAST_WEEK, order_by=("-sessions",), limit=1
        ),
    ),
    (
        "attributed revenue by attribution model last week",
        MetricQuery(
            ("attributed_revenue",),
            ("marketing_roi__attribution_model",),
            *LAST_WEEK,
            order_by=("-attributed_revenue",),
        ),
    ),
    (
        "CAC under first-touch by channel since 2026-11-03",
        MetricQuery(
            ("cac",),
            ("marketing_roi__channel",),
            date(2026, 11, 3),
            AS_OF,
            where=(f"{MODEL} = 'first_touch'",),
            order_by=("-cac",),
        ),
    ),
    (
        "average order value last week",
        MetricQuery(("average_order_value",), (), *LAST_WEEK),
    ),
    (
        "cancelled orders last week",
        MetricQuery(
            ("orders",), (), *LAST_WEEK, where=("{{ Dimension('order__status') }} = 'cancelled'",)
        ),
    ),
    (
        "Google Ads spend last week",
        MetricQuery(
            ("spend",),
            (),
            *LAST_WEEK,
            where=("{{ Dimension('ad_spend__platform') }} = 'google_ads'",),
        ),
    ),
    (
        "revenue in the UK yesterday",
        MetricQuery(
            ("net_revenue",), (), AS_OF, AS_OF, where=("{{ Dimension('order__region') }} = 'UK'",)
        ),
    ),
    (
        "units sold by category",
        MetricQuery(("units_sold",), ("sales_daily__category",), order_by=("-units_sold",)),
    ),
    (
        "new customers by channel, linear attribution, last week",
        MetricQuery(
            ("new_customers",),
            ("marketing_roi__channel",),
            *LAST_WEEK,
            where=(f"{MODEL} = 'linear'",),
            order_by=("-new_customers",),
        ),
    ),
    (
        "attributed revenue last week",  # no model named: last touch, the default
        MetricQuery(("attributed_revenue",), (), *LAST_WEEK, where=(LAST_TOUCH,)),
    ),
    (
        "spend by channel under time decay on Nov 5",
        MetricQuery(
            ("marketing_spend",),
            ("marketing_roi__channel",),
            date(2026, 11, 5),
            date(2026, 11, 5),
            where=(f"{MODEL} = 'time_decay'",),
            order_by=("-marketing_spend",),
        ),
    ),
    (
        "CTR and CPC by campaign on 3 November",
        MetricQuery(
            ("ctr", "cpc"),
            ("ad_spend__campaign_id",),
            date(2026, 11, 3),
            date(2026, 11, 3),
            order_by=("-ctr",),
        ),
    ),
    (
        "weekly sessions and purchases this month",
        MetricQuery(
            ("sessions", "purchases"),
            ("metric_time__week",),
            date(2026, 11, 1),
            AS_OF,
            order_by=("metric_time__week",),
        ),
    ),
    (
        "orders per day in the last 2 days",
        MetricQuery(
            ("orders",),
            ("metric_time__day",),
            date(2026, 11, 6),
            AS_OF,
            order_by=("metric_time__day",),
        ),
    ),
    (
        "ROAS by channel and campaign under position-based last week",
        MetricQuery(
            ("roas",),
            ("marketing_roi__channel", "marketing_roi__campaign_id"),
            *LAST_WEEK,
            where=(f"{MODEL} = 'position_based'",),
            order_by=("-roas",),
        ),
    ),
    (
        "gross revenue in October",  # a month after as_of's is last year's
        MetricQuery(("gross_revenue",), (), date(2026, 10, 1), date(2026, 10, 31)),
    ),
]


@pytest.mark.parametrize(("question", "expected"), PARSED, ids=[q for q, _ in PARSED])
def test_the_offline_parser_reads_common_questions(question, expected):
    assert parse_metric_question(question, AS_OF) == expected


@pytest.mark.parametrize(
    "question",
    [
        "how do I add a source?",
        "revenue by colour last week",  # no such dimension
        "what is the weather like",  # no metric
        "net revenue today",  # no data for today yet
        "revenue on 2026-02-30",  # no such day
        "sessions by campaign",  # the funnel has no campaign
        "net revenue vs last year",  # a comparison it cannot make
        "why did ROAS drop last week?",
    ],
)
def test_the_offline_parser_says_none_when_unsure(question):
    assert parse_metric_question(question, AS_OF) is None


# -- MetricFlow's SQL on the warehouse ---------------------------------------------------


def test_net_revenue_by_channel_last_week_under_last_touch(settings):
    question = "what was net revenue by channel last week under last touch?"
    answer = run_metric_query(settings, parse_metric_question(question, AS_OF))
    # last_touch rows of 11-01..11-07 (the 10-31 row and first_touch rows left out).
    assert answer.rows == [
        ("google_ads", Decimal("350.25")),  # 250.00 + 100.25
        ("direct", Decimal("300.00")),
        ("meta_ads", Decimal("40.10")),
    ]
    assert answer.columns == ["marketing_roi__channel", "attributed_revenue"]
    assert answer.metrics == ("attributed_revenue",)
    assert (answer.start, answer.end) == LAST_WEEK
    assert "last_touch" in answer.description and "2026-11-01 to 2026-11-07" in answer.description
    assert "analytics.mart_marketing_roi" in answer.sql.lower()


def test_the_answer_equals_plain_sql_on_the_mart(settings):
    query = parse_metric_question("attributed revenue by campaign under first touch", AS_OF)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    expected = con.execute(
        """select campaign_id, sum(attributed_revenue) from analytics.mart_marketing_roi
        where attribution_model = 'first_touch' group by 1 order by 2 desc"""
    ).fetchall()
    con.close()
    assert run(settings, query) == expected
    assert expected == [
        ("(none)", Decimal("310.35")),
        ("c1", Decimal("150.00")),
        ("m1", Decimal("120.00")),
        ("c2", Decimal("0.00")),
    ]


def test_roas_is_attributed_revenue_over_spend_under_one_model(settings):
    rows = run(settings, parse_metric_question("ROAS by channel last week", AS_OF))
    values = {channel: roas for channel, roas in rows}
    assert values["google_ads"] == pytest.approx(350.25 / 150.50)
    assert values["meta_ads"] == pytest.approx(40.10 / 80.00)
    assert values["direct"] is None  # no spend


def test_a_marketing_metric_without_a_model_reads_last_touch_only(settings):
    # Without the default, both models' rows would add up (spend twice over).
    query = MetricQuery(("attributed_revenue", "marketing_spend"), start=LAST_WEEK[0])
    assert run(settings, query) == [(Decimal("690.35"), Decimal("230.50"))]


def test_net_revenue_leaves_out_cancelled_and_refunded_orders(settings):
    query = parse_metric_question("net revenue, gross revenue and discounts last week", AS_OF)
    assert query.metrics == ("net_revenue", "gross_revenue", "discount")
    # o1, o3, o5: 90.00 + 80.00 + 25.00; gross 100.00 + 80.00 + 25.50; discount 10.50.
    assert run(settings, query) == [(Decimal("195.00"), Decimal("205.50"), Decimal("10.50"))]
    by_status = run(settings, parse_metric_question("orders by status last week", AS_OF))
    assert sorted(by_status) == [
        ("cancelled", 1),
        ("delivered", 1),
        ("placed", 1),
        ("refunded", 1),
        ("shipped", 1),
    ]
    aov = run(settings, parse_metric_question("average order value last week", AS_OF))
    assert aov == [(pytest.approx(65.0),)]  # 195.00 / 3 revenue orders
    uk = run(settings, parse_metric_question("revenue in the UK last week", AS_OF))
    assert uk == [(Decimal("170.00"),)]


def test_a_range_is_exact_days_whatever_the_grain(settings):
    # 2026-11-01 is a Sunday: its week began on 10-26, whose 10.00 of spend is not asked for.
    rows = run(settings, parse_metric_question("weekly spend last week", AS_OF))
    assert rows == [(date(2026, 10, 26), Decimal("100.00")), (date(2026, 11, 2), Decimal("130.50"))]


def test_funnel_rates_and_category_revenue(settings):
    rows = run(settings, parse_metric_question("conversion rate by channel last week", AS_OF))
    assert rows == [("google_ads", pytest.approx(8 / 150)), ("direct", pytest.approx(6 / 200))]
    rows = run(settings, parse_metric_question("revenue by category last week", AS_OF))
    assert rows == [("footwear", Decimal("134.00")), ("apparel", Decimal("36.00"))]


def test_top_campaigns_by_spend(settings):
    rows = run(settings, parse_metric_question("top 2 campaigns by spend last week", AS_OF))
    assert rows == [("c1", Decimal("100.00")), ("m1", Decimal("80.00"))]


def test_latest_data_date_is_the_last_day_every_fact_mart_has(settings):
    assert latest_data_date(settings) == AS_OF  # fct_orders runs to 11-08, the others 11-07


def test_the_sql_runs_through_the_query_guard(settings):
    # A where filter is MetricFlow SQL: text smuggled into one reaches the guard, which
    # refuses a file read even if MetricFlow passed it on.
    query = MetricQuery(("net_revenue",), where=("exists (select * from read_csv('/etc/passwd'))",))
    with pytest.raises(QueryRefused, match="read_csv"):
        run_metric_query(settings, query)


def test_other_targets_get_their_own_dialect(settings):
    query = parse_metric_question("conversion rate by week last week", AS_OF)
    sql = {
        target: compile_metric_sql(
            Settings.from_env({**_env(settings), "CARAVAN_TARGET": target}), query
        )
        for target in ("duckdb", "snowflake", "bigquery")
    }
    assert all("analytics.mart_funnel_daily" in text for text in sql.values())
    assert "DATE_TRUNC('week', session_date)" in sql["duckdb"]
    assert "DATE_TRUNC('week', session_date)" in sql["snowflake"]
    assert "TIMESTAMP_TRUNC(session_date, isoweek)" in sql["bigquery"]
    assert "FLOAT64" in sql["bigquery"] and "FLOAT64" not in sql["duckdb"]
    with pytest.raises(NotImplementedError, match="bigquery"):
        run_metric_query(Settings.from_env({**_env(settings), "CARAVAN_TARGET": "bigquery"}), query)


def _env(settings: Settings) -> dict[str, str]:
    return {"CARAVAN_HOME": str(settings.home), "CARAVAN_PROJECT_DIR": str(settings.project_dir)}


# -- what a language model chooses from --------------------------------------------------


def test_the_catalogue_is_the_semantic_manifest_and_says_what_each_is(settings):
    catalog = metric_catalog(settings)
    metrics = {entry["name"]: entry for entry in catalog if entry["kind"] == "metric"}
    dimensions = {entry["name"]: entry for entry in catalog if entry["kind"] == "dimension"}
    assert set(metrics) == {m for names in METRICS_BY_MODEL.values() for m in names}
    assert set(dimensions) == {d for names in DIMENSIONS_BY_MODEL.values() for d in names} | {
        "metric_time__day",
        "metric_time__week",
        "metric_time__month",
    }
    assert all(entry["description"] for entry in catalog)
    for model, names in METRICS_BY_MODEL.items():
        for name in names:
            assert metrics[name]["semantic_models"] == [model], name
            assert set(DIMENSIONS_BY_MODEL[model]) <= set(metrics[name]["dimensions"]), name
    enum = METRIC_QUERY_JSON_SCHEMA["properties"]["metrics"]["items"]["enum"]
    assert sorted(enum) == sorted(metrics)


def test_the_json_schema_takes_a_valid_choice_and_refuses_an_unknown_metric():
    choice = {
        "metrics": ["attributed_revenue"],
        "group_by": ["marketing_roi__channel"],
        "start": "2026-11-01",
        "end": "2026-11-07",
        "filters": [
            {
                "dimension": "marketing_roi__attribution_model",
                "operator": "=",
                "values": ["last_touch"],
            }
        ],
        "order_by": [{"name": "attributed_revenue", "descending": True}],
        "limit": None,
    }
    jsonschema.validate(choice, METRIC_QUERY_JSON_SCHEMA)
    assert metric_query_from_choice(choice) == parse_metric_question(
        "net revenue by channel last week under last touch", AS_OF
    )
    unknown = {**choice, "metrics": ["profit"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(unknown, METRIC_QUERY_JSON_SCHEMA)
    with pytest.raises(ValueError, match="metrics: unknown 'profit'"):
        metric_query_from_choice(unknown)
    with pytest.raises(jsonschema.ValidationError):  # strict: no property left out
        jsonschema.validate(
            {k: v for k, v in choice.items() if k != "limit"}, METRIC_QUERY_JSON_SCHEMA
        )


def test_a_filter_value_is_quoted_not_spliced(settings):
    choice = {
        "metrics": ["orders"],
        "group_by": [],
        "start": None,
        "end": None,
        "filters": [{"dimension": "order__region", "operator": "=", "values": ["x' or 1=1 --"]}],
        "order_by": [],
        "limit": None,
    }
    query = metric_query_from_choice(choice)
    assert query.where == ("{{ Dimension('order__region') }} = 'x'' or 1=1 --'",)
    assert run(settings, query) == [(None,)]  # no order is in that region

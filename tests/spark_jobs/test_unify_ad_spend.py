"""unify_ad_spend's pure transforms on hand-made frames; expected rows worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pyspark.testing import assertDataFrameEqual

from spark_jobs.unify_ad_spend import (
    FX_RATES_SCHEMA,
    GOOGLE_ADS_CAMPAIGNS_SCHEMA,
    GOOGLE_ADS_PERFORMANCE_SCHEMA,
    META_CAMPAIGNS_SCHEMA,
    META_INSIGHTS_SCHEMA,
    SPEND_COLUMNS,
    transform_campaigns,
    transform_google_ads,
    transform_meta_ads,
    transform_unify,
)

SPEND_SCHEMA = (
    "spend_date DATE, platform STRING, account_id STRING, campaign_id STRING, "
    "campaign_name STRING, currency STRING, spend DECIMAL(18,6), impressions BIGINT, "
    "clicks BIGINT, conversions DECIMAL(18,4)"
)
CAMPAIGNS_SCHEMA = (
    "platform STRING, campaign_id STRING, campaign_name STRING, account_id STRING, "
    "status STRING, objective STRING, created_at TIMESTAMP_NTZ"
)


def google_row(
    account: str,
    campaign: str,
    name: str,
    micros: str,
    impressions: str,
    clicks: str,
    conversions: float,
    day: str,
) -> tuple:
    return (
        (f"customers/{account}/campaigns/{campaign}", campaign, name),
        (micros, impressions, clicks, conversions),
        (day,),
    )


def performance(spark, *rows):
    return spark.createDataFrame(list(rows), GOOGLE_ADS_PERFORMANCE_SCHEMA)


def test_google_ads_rows_in_the_unified_schema_with_exact_spend(spark):
    frame = performance(
        spark,
        google_row(
            "7034815679", "21000001", "Brand Search", "12345670000", "1000", "50", 2.5, "2026-03-01"
        ),
        google_row("7034815679", "21000002", "Generic", "1", "7", "0", 0.0, "2026-03-01"),
        google_row("7034815679", "21000001", "Brand Search", "0", "0", "0", 0.1, "2026-03-02"),
        google_row(
            "111", "9", "Big", "999999999999999", "123456789012", "3", 1234.5678, "2026-03-02"
        ),
    )

    expected = spark.createDataFrame(
        [
            (
                date(2026, 3, 1),
                "google_ads",
                "7034815679",
                "21000001",
                "Brand Search",
                "EUR",
                Decimal("12345.670000"),
                1000,
                50,
                Decimal("2.5000"),
            ),
            (
                date(2026, 3, 1),
                "google_ads",
                "7034815679",
                "21000002",
                "Generic",
                "EUR",
                Decimal("0.000001"),
                7,
                0,
                Decimal("0.0000"),
            ),
            (
                date(2026, 3, 2),
                "google_ads",
                "7034815679",
                "21000001",
                "Brand Search",
                "EUR",
                Decimal("0.000000"),
                0,
                0,
                Decimal("0.1000"),
            ),
            (
                date(2026, 3, 2),
                "google_ads",
                "111",
                "9",
                "Big",
                "EUR",
                Decimal("999999999.999999"),
                123456789012,
                3,
                Decimal("1234.5678"),
            ),
        ],
        SPEND_SCHEMA,
    )
    assertDataFrameEqual(transform_google_ads(frame, "EUR"), expected)


def test_spend_is_decimal_not_float(spark):
    frame = performance(
        spark, google_row("1", "2", "n", "12345670000", "1", "1", 0.0, "2026-03-01")
    )
    result = transform_google_ads(frame, "USD")
    assert dict(result.dtypes)["spend"] == "decimal(18,6)"
    [row] = result.collect()
    assert row["spend"] == Decimal("12345.67")
    assert str(row["spend"]) == "12345.670000"


def test_account_id_comes_from_the_resource_name(spark):
    frame = performance(
        spark,
        google_row("1234567890", "5", "a", "1", "1", "1", 0.0, "2026-03-01"),
        google_row("42", "5", "a", "1", "1", "1", 0.0, "2026-03-01"),
    )
    ids = [row["account_id"] for row in transform_google_ads(frame, "USD").collect()]
    assert sorted(ids) == ["1234567890", "42"]


def test_unify_stacks_platforms_by_column_name_in_the_spend_column_order(spark):
    first = transform_google_ads(
        performance(spark, google_row("1", "10", "a", "2000000", "5", "1", 1.0, "2026-03-01")),
        "USD",
    )
    # A second platform's frame with its columns in another order and one extra column.
    second = spark.createDataFrame(
        [
            (
                Decimal("3.500000"),
                "meta_ads",
                date(2026, 3, 1),
                "act_9",
                "77",
                "m",
                "USD",
                20,
                4,
                Decimal("0.0000"),
                "dropped",
            )
        ],
        "spend DECIMAL(18,6), platform STRING, spend_date DATE, account_id STRING, "
        "campaign_id STRING, campaign_name STRING, currency STRING, impressions BIGINT, "
        "clicks BIGINT, conversions DECIMAL(18,4), extra STRING",
    )
    unified = transform_unify(first, second)

    assert unified.columns == SPEND_COLUMNS
    expected = spark.createDataFrame(
        [
            (
                date(2026, 3, 1),
                "google_ads",
                "1",
                "10",
                "a",
                "USD",
                Decimal("2.000000"),
                5,
                1,
                Decimal("1.0000"),
            ),
            (
                date(2026, 3, 1),
                "meta_ads",
                "act_9",
                "77",
                "m",
                "USD",
                Decimal("3.500000"),
                20,
                4,
                Decimal("0.0000"),
            ),
        ],
        SPEND_SCHEMA,
    )
    assertDataFrameEqual(unified, expected)


def meta_row(account: str, currency: str, campaign: str, spend: str, purchases, day: str):
    actions = [("link_click", "9")] + ([("purchase", purchases)] if purchases else [])
    return (account, currency, campaign, f"Meta {campaign}", spend, "1000", "9", actions, day)


def test_meta_spend_is_converted_at_the_days_rate_and_rows_without_a_rate_set_aside(spark):
    insights = spark.createDataFrame(
        [
            # EUR at 1.0834 on the 1st: 100.05 × 1.0834 = 108.394170 → 108.39
            meta_row("1", "EUR", "31", "100.05", "3", "2026-03-01"),
            # EUR at 1.0779 on the 2nd: 0.05 × 1.0779 = 0.053895 → 0.05; no purchase action
            meta_row("1", "EUR", "31", "0.05", None, "2026-03-02"),
            # 2.50 × 1.0010 = 2.5025 → 2.50; 0.15 CHF × 1.1 = 0.165, half a cent → 0.17
            meta_row("1", "EUR", "32", "2.50", "1", "2026-03-03"),
            meta_row("4", "CHF", "33", "0.15", "1", "2026-03-03"),
            # the reporting currency needs no rate: 12.34 as is
            meta_row("2", "USD", "41", "12.34", "2", "2026-03-01"),
            # GBP has no rate in the table, EUR none for the 4th: both set aside
            meta_row("3", "GBP", "51", "10.00", "1", "2026-03-01"),
            meta_row("1", "EUR", "31", "5.00", "1", "2026-03-04"),
        ],
        META_INSIGHTS_SCHEMA,
    )
    rates = spark.createDataFrame(
        [
            ("2026-03-01", "EUR", "USD", "1.0834"),
            ("2026-03-02", "EUR", "USD", "1.0779"),
            ("2026-03-03", "EUR", "USD", "1.0010"),
            ("2026-03-03", "CHF", "USD", "1.1"),
            ("2026-03-03", "EUR", "GBP", "0.85"),  # another quote currency: not used
        ],
        FX_RATES_SCHEMA,
    )
    converted, missing = transform_meta_ads(insights, rates, "USD")

    def spend_row(day, account, campaign, spend, conversions):
        return (
            date.fromisoformat(day), "meta_ads", account, campaign, f"Meta {campaign}", "USD",
            Decimal(spend), 1000, 9, Decimal(conversions),
        )  # fmt: skip

    expected = spark.createDataFrame(
        [
            spend_row("2026-03-01", "1", "31", "108.390000", "3.0000"),
            spend_row("2026-03-02", "1", "31", "0.050000", "0.0000"),
            spend_row("2026-03-03", "1", "32", "2.500000", "1.0000"),
            spend_row("2026-03-03", "4", "33", "0.170000", "1.0000"),
            spend_row("2026-03-01", "2", "41", "12.340000", "2.0000"),
        ],
        SPEND_SCHEMA,
    )
    assertDataFrameEqual(converted, expected)
    assert sorted((r["reason"], r["campaign_id"]) for r in missing.collect()) == [
        ("no rate from EUR to USD for 2026-03-04", "31"),
        ("no rate from GBP to USD for 2026-03-01", "51"),
    ]


# --- curated/marketing/campaigns -------------------------------------------------------


def google_campaign(resource_name, campaign_id, name, status, channel_type) -> tuple:
    return ((resource_name, campaign_id, name, status, channel_type),)


def meta_campaign(campaign_id, account, name, status, objective, created_time) -> tuple:
    return (campaign_id, account, name, status, objective, created_time)


def test_both_platforms_campaigns_in_one_schema(spark):
    google = spark.createDataFrame(
        [
            google_campaign(
                "customers/7034815679/campaigns/21000001", "21000001", "Brand Search", "ENABLED",
                "SEARCH",
            ),
            google_campaign(
                "customers/7034815679/campaigns/21000003", "21000003", "Performance Max - All",
                "PAUSED", "PERFORMANCE_MAX",
            ),
            # no resource name: no customer id to take
            google_campaign(None, "21000009", "Old Display", "REMOVED", "DISPLAY"),
        ],
        GOOGLE_ADS_CAMPAIGNS_SCHEMA,
    )  # fmt: skip
    meta = spark.createDataFrame(
        [
            meta_campaign(
                "120210000000000100", "298763547269747", "Prospecting - Broad", "ACTIVE",
                "OUTCOME_SALES", "2020-01-15T09:00:00+0000",
            ),
            # 01:30 at UTC+2 is 23:30 UTC the day before
            meta_campaign(
                "120210000000000500", "557069091374068", "Retargeting - EU", "PAUSED",
                "OUTCOME_TRAFFIC", "2026-03-01T01:30:00+0200",
            ),
        ],
        META_CAMPAIGNS_SCHEMA,
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("google_ads", "21000001", "Brand Search", "7034815679", "enabled", "search", None),
            ("google_ads", "21000003", "Performance Max - All", "7034815679", "paused",
             "performance_max", None),
            ("google_ads", "21000009", "Old Display", None, "removed", "display", None),
            ("meta_ads", "120210000000000100", "Prospecting - Broad", "298763547269747",
             "active", "outcome_sales", datetime(2020, 1, 15, 9)),
            ("meta_ads", "120210000000000500", "Retargeting - EU", "557069091374068",
             "paused", "outcome_traffic", datetime(2026, 2, 28, 23, 30)),
        ],
        CAMPAIGNS_SCHEMA,
    )  # fmt: skip
    result = transform_campaigns(google, meta)
    assert result.columns == [
        "platform", "campaign_id", "campaign_name", "account_id", "status", "objective",
        "created_at",
    ]  # fmt: skip
    assertDataFrameEqual(result, expected)


def test_a_campaign_has_the_ids_its_spend_rows_carry(spark):
    """The same campaign in the platforms' campaign and spend records: equal ids."""
    google = spark.createDataFrame(
        [google_campaign("customers/42/campaigns/777", "777", "Brand", "ENABLED", "SEARCH")],
        GOOGLE_ADS_CAMPAIGNS_SCHEMA,
    )
    meta = spark.createDataFrame(
        [meta_campaign("9001", "55", "Meta 9001", "ACTIVE", "OUTCOME_SALES", None)],
        META_CAMPAIGNS_SCHEMA,
    )
    spend = transform_unify(
        transform_google_ads(
            performance(spark, google_row("42", "777", "Brand", "1", "1", "1", 0.0, "2026-03-01")),
            "USD",
        ),
        transform_meta_ads(
            spark.createDataFrame(
                [meta_row("55", "USD", "9001", "1.00", None, "2026-03-01")], META_INSIGHTS_SCHEMA
            ),
            spark.createDataFrame([], FX_RATES_SCHEMA),
            "USD",
        )[0],
    )
    keys = ["platform", "campaign_id", "account_id"]
    expected = [("google_ads", "777", "42"), ("meta_ads", "9001", "55")]
    assert sorted(
        tuple(row) for row in transform_campaigns(google, meta).select(keys).collect()
    ) == (expected)
    assert sorted(tuple(row) for row in spend.select(keys).collect()) == expected

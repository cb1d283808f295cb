"""The warehouse: curated partitions into `landing`, dbt into `marts`, published to `analytics`."""

# dbt builds these in `marts`; the marts gate passes them to `analytics`.
# (Here, not in the DuckDB module, so that DAG files can name them without importing DuckDB.)
PUBLISHED_MARTS = (
    "fct_orders",
    "fct_ad_spend_daily",
    "dim_customers",
    "dim_campaigns",
    "dim_products",
    "mart_marketing_roi",
    "mart_sales_daily",
    "mart_funnel_daily",
    "mart_customer_ltv",
)

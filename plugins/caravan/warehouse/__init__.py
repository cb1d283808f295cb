"""The warehouse: curated partitions into `landing`, dbt into `marts`, published to `analytics`."""

# dbt builds these in `marts`; the marts gate passes them to `analytics`.
# (Here, not in the DuckDB module, so that DAG files can name them without importing DuckDB.)
PUBLISHED_MARTS = ("fct_orders", "fct_ad_spend_daily", "mart_marketing_roi")

# dev: its own project, your own Airflow (e.g. `caravan up` on a VM running as the Airflow
# account), BigQuery, no Spark cluster (Spark in the task or Serverless batches).
project_id        = "acme-caravan-dev"
env               = "dev"
region            = "us-central1"
bigquery_location = "US"

staging_retention_days    = 3
quarantine_retention_days = 30
noncurrent_retention_days = 7

connection_ids = ["google_ads_default", "meta_ads_default", "crm_default", "shop_db_default"]

warehouse_target    = "bigquery"
dbt_runs_in_airflow = true
dbt_impersonators   = ["group:caravan-engineers@acme.example"]

enable_composer              = false
enable_spark_connect_cluster = false
enable_snowflake             = false

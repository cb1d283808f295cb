# prod: its own project, Cloud Composer 3, a Spark Connect cluster on Dataproc, BigQuery.
project_id        = "acme-caravan-prod"
env               = "prod"
region            = "us-central1"
bigquery_location = "US"

staging_retention_days    = 7
quarantine_retention_days = 90
noncurrent_retention_days = 30

connection_ids = ["google_ads_default", "meta_ads_default", "crm_default", "shop_db_default"]

warehouse_target    = "bigquery"
dbt_runs_in_airflow = true
dbt_impersonators   = []

network                      = "caravan-prod"
subnetwork                   = "projects/acme-caravan-prod/regions/us-central1/subnetworks/caravan-prod-us-central1"
enable_spark_connect_cluster = true
spark_connect_workers        = 2
spark_connect_client_ranges  = ["10.20.0.0/20"]

enable_composer           = true
composer_image_version    = "composer-3-airflow-3.1.8"
composer_environment_size = "ENVIRONMENT_SIZE_SMALL"

enable_snowflake = false

output "lake_url" {
  description = "CARAVAN_LAKE_URL for Airflow's workers."
  value       = "gs://${google_storage_bucket.lake.name}"
}

output "datasets" {
  description = "BigQuery dataset ids by warehouse schema."
  value       = { for schema, dataset in google_bigquery_dataset.main : schema => dataset.dataset_id }
}

output "service_accounts" {
  description = "Caravan's service account emails by role (airflow, spark, dbt)."
  value       = { for key, account in google_service_account.main : key => account.email }
}

output "secret_ids" {
  description = "Secret Manager secret ids by Airflow connection id: add each value with gcloud (docs/deploy.md)."
  value       = { for connection, secret in google_secret_manager_secret.main : connection => secret.secret_id }
}

output "airflow_env_variables" {
  description = "The CARAVAN_* settings for your own Airflow (Composer sets them itself)."
  value = merge(
    module.naming.composer_env_variables,
    local.spark_remote == null ? {} : { CARAVAN_SPARK_REMOTE = local.spark_remote },
  )
}

output "airflow_secrets_backend" {
  description = "Airflow's [secrets] backend and backend_kwargs (JSON) for your own Airflow."
  value = {
    backend        = module.naming.secrets_backend
    backend_kwargs = jsonencode(module.naming.secrets_backend_kwargs)
  }
}

output "dataproc_batch_settings" {
  description = "What a Dataproc Serverless batch of Caravan's Spark jobs names: region, service account, staging bucket, subnetwork."
  value = {
    region          = var.region
    service_account = google_service_account.main["spark"].email
    staging_bucket  = google_storage_bucket.dataproc_staging.name
    subnetwork      = var.subnetwork
  }
}

output "spark_remote" {
  description = "CARAVAN_SPARK_REMOTE of the Spark Connect cluster (null without one)."
  value       = local.spark_remote
}

output "composer_bucket_prefix" {
  description = "Composer's DAGs folder (gs://<bucket>/dags): DAGs, plugins and data/ go under this bucket (null without Composer)."
  value       = var.enable_composer ? google_composer_environment.main[0].config[0].dag_gcs_prefix : null
}

output "composer_airflow_uri" {
  description = "The Composer environment's Airflow UI (null without Composer)."
  value       = var.enable_composer ? google_composer_environment.main[0].config[0].airflow_uri : null
}

output "snowflake" {
  description = "Snowflake's database, warehouse and roles for Airflow's connection (null without Snowflake)."
  value = var.enable_snowflake ? {
    database            = module.snowflake[0].database
    warehouse           = module.snowflake[0].warehouse
    roles               = module.snowflake[0].roles
    storage_integration = module.naming.snowflake.storage_integration
  } : null
}

output "name_prefix" {
  description = "<prefix>-<env>: the start of every resource name."
  value       = local.name_prefix
}

output "lake_bucket" {
  description = "The lake bucket's name (CARAVAN_LAKE_URL is gs://<it>)."
  value       = local.lake_bucket

  # A derived name is checked too: a prefix or project id can make it invalid.
  precondition {
    condition = alltrue([
      can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", local.lake_bucket)),
      !startswith(local.lake_bucket, "goog"),
      !strcontains(local.lake_bucket, "google"),
    ])
    error_message = "The lake bucket's name ${local.lake_bucket} breaks Cloud Storage's naming rules: set lake_bucket_name or change prefix."
  }
}

output "dataproc_staging_bucket" {
  description = "The bucket for the Spark jobs' code and Dataproc's staging and temporary files."
  value       = local.dataproc_staging_bucket

  precondition {
    condition = alltrue([
      can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", local.dataproc_staging_bucket)),
      !startswith(local.dataproc_staging_bucket, "goog"),
      !strcontains(local.dataproc_staging_bucket, "google"),
    ])
    error_message = "The Dataproc staging bucket's name ${local.dataproc_staging_bucket} breaks Cloud Storage's naming rules: change prefix."
  }
}

output "lifecycle_rules" {
  description = "The lake's delete rules: objects under prefix are deleted age_days after their creation."
  value       = local.lifecycle_rules
}

output "noncurrent_retention_days" {
  description = "Days a replaced or deleted object's old version is kept."
  value       = var.noncurrent_retention_days
}

output "protect_data" {
  description = "True in prod: buckets and datasets are not destroyed with their contents."
  value       = local.protect_data
}

output "datasets" {
  description = "BigQuery dataset ids by warehouse schema."
  value       = local.datasets
}

output "service_accounts" {
  description = "Caravan's service accounts by role: account_id, display_name and email."
  value = {
    for key, account in local.service_accounts : key => merge(account, { email = local.emails[key] })
  }
}

output "secret_ids" {
  description = "Secret Manager secret ids by Airflow connection id."
  value       = local.secret_ids
}

output "role_table" {
  description = "Every IAM grant to Caravan's accounts: grantee, member, role, scope (project, bucket, dataset, secret, service_account), target and reason."
  value       = local.role_table
}

output "role_bindings" {
  description = "The role table keyed grantee/role/scope/target, for for_each."
  value       = local.role_bindings
}

output "composer_environment" {
  description = "The Cloud Composer environment's name."
  value       = "${local.name_prefix}-composer"
}

output "composer_env_variables" {
  description = "The CARAVAN_* settings the Composer environment sets."
  value       = local.composer_env_variables
}

output "secrets_backend" {
  description = "Airflow's [secrets] backend class."
  value       = local.secrets_backend
}

output "secrets_backend_kwargs" {
  description = "Airflow's [secrets] backend_kwargs (as an object; jsonencode it)."
  value       = local.secrets_backend_kwargs
}

output "dataproc_cluster" {
  description = "The Spark Connect cluster's name (when enabled)."
  value       = "${local.name_prefix}-spark"
}

output "snowflake" {
  description = "Snowflake object names: database, warehouse, roles, storage_integration, schemas."
  value       = local.snowflake
}

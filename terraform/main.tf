# Every name, the role table and the input checks come from the provider-free naming
# module, which tests/terraform runs offline with `terraform test`.
module "naming" {
  source = "./modules/naming"

  project_id                   = var.project_id
  env                          = var.env
  prefix                       = var.prefix
  lake_bucket_name             = var.lake_bucket_name
  dataset_prefix               = var.dataset_prefix
  bigquery_location            = var.bigquery_location
  staging_retention_days       = var.staging_retention_days
  quarantine_retention_days    = var.quarantine_retention_days
  noncurrent_retention_days    = var.noncurrent_retention_days
  connection_ids               = var.connection_ids
  warehouse_target             = var.warehouse_target
  dbt_runs_in_airflow          = var.dbt_runs_in_airflow
  dbt_impersonators            = var.dbt_impersonators
  enable_composer              = var.enable_composer
  enable_snowflake             = var.enable_snowflake
  enable_spark_connect_cluster = var.enable_spark_connect_cluster
}

locals {
  # The role table split by the kind of resource each grant is made on.
  bindings_by_scope = {
    for scope in ["project", "bucket", "dataset", "secret", "service_account"] : scope => {
      for key, row in module.naming.role_bindings : key => row if row.scope == scope
    }
  }
}

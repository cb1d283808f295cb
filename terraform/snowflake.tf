# Snowflake (enable_snowflake): database, warehouse, roles, grants and a storage integration
# through which Snowflake reads the lake bucket in place.
module "snowflake" {
  source = "./modules/snowflake"
  count  = var.enable_snowflake ? 1 : 0

  names          = module.naming.snowflake
  lake_bucket    = google_storage_bucket.lake.name
  warehouse_size = var.snowflake_warehouse_size
  role_users     = var.snowflake_role_users
}

# Snowflake's own GCP account (made with the integration) reads the lake: read-only, this
# bucket only. Its email is known after apply, so it is not in the naming module's table.
resource "google_storage_bucket_iam_member" "snowflake" {
  for_each = var.enable_snowflake ? toset(["roles/storage.objectViewer", "roles/storage.legacyBucketReader"]) : toset([])

  bucket = google_storage_bucket.lake.name
  role   = each.value
  member = "serviceAccount:${module.snowflake[0].storage_gcp_service_account}"
}

output "storage_gcp_service_account" {
  description = "Snowflake's GCP service account, to be granted read access on the lake bucket."
  value       = snowflake_storage_integration.main.storage_gcp_service_account
}

output "database" {
  description = "The database Caravan's schemas live in (the connection's extra database)."
  value       = snowflake_database.main.name
}

output "warehouse" {
  description = "The warehouse for Caravan's queries (the connection's extra warehouse)."
  value       = snowflake_warehouse.main.name
}

output "roles" {
  description = "Caravan's account roles: loader, transformer, analyst, runtime (the connection's extra role)."
  value       = local.role_names
}

# Who does what in Snowflake, as in GCP: the loader writes landing, quality and analytics
# (loads, gate results, publishing) and reads the marts (the marts gate); the transformer
# (dbt) reads landing and builds staging, intermediate, snapshots and marts; the analyst
# reads analytics. Airflow's connection uses the runtime role, which holds loader and
# transformer because Caravan runs dbt inside Airflow's tasks with that connection.

locals {
  loader_schemas      = ["LANDING", "QUALITY", "ANALYTICS"]
  transformer_schemas = ["STAGING", "INTERMEDIATE", "SNAPSHOTS", "MARTS"]

  # Reading: every table and view of a schema, now and later.
  reads = merge(
    { for pair in setproduct(["LANDING"], ["TABLES", "VIEWS"]) : "transformer/${pair[0]}/${pair[1]}" => { role = "transformer", schema = pair[0], objects = pair[1] } },
    { for pair in setproduct(["MARTS"], ["TABLES", "VIEWS"]) : "loader/${pair[0]}/${pair[1]}" => { role = "loader", schema = pair[0], objects = pair[1] } },
    { for pair in setproduct(["ANALYTICS"], ["TABLES", "VIEWS"]) : "analyst/${pair[0]}/${pair[1]}" => { role = "analyst", schema = pair[0], objects = pair[1] } },
  )
  # Writing: the schemas a role builds in.
  writes = merge(
    { for schema in local.loader_schemas : "loader/${schema}" => { role = "loader", schema = schema } },
    { for schema in local.transformer_schemas : "transformer/${schema}" => { role = "transformer", schema = schema } },
  )

  role_names = {
    loader      = snowflake_account_role.main["loader"].name
    transformer = snowflake_account_role.main["transformer"].name
    analyst     = snowflake_account_role.main["analyst"].name
    runtime     = snowflake_account_role.main["runtime"].name
  }
}

resource "snowflake_database" "main" {
  name                        = var.names.database
  comment                     = "Caravan's warehouse."
  data_retention_time_in_days = 7
}

resource "snowflake_schema" "main" {
  for_each = toset(var.names.schemas)

  database = snowflake_database.main.name
  name     = each.value
}

resource "snowflake_warehouse" "main" {
  name                = var.names.warehouse
  warehouse_size      = var.warehouse_size
  auto_suspend        = var.auto_suspend_seconds
  auto_resume         = "true"
  initially_suspended = true
  comment             = "Caravan's loads, dbt builds and gates."
}

resource "snowflake_account_role" "main" {
  for_each = {
    loader      = var.names.loader_role
    transformer = var.names.transformer_role
    analyst     = var.names.analyst_role
    runtime     = var.names.runtime_role
  }

  name    = each.value
  comment = "Caravan: ${each.key}."
}

# The runtime role holds loader and transformer.
resource "snowflake_grant_account_role" "runtime" {
  for_each = toset(["loader", "transformer"])

  role_name        = local.role_names[each.value]
  parent_role_name = local.role_names.runtime
}

resource "snowflake_grant_account_role" "users" {
  for_each = merge([
    for role, users in var.role_users : { for user in users : "${role}/${user}" => { role = role, user = user } }
  ]...)

  role_name = local.role_names[each.value.role]
  user_name = each.value.user
}

resource "snowflake_grant_privileges_to_account_role" "warehouse" {
  for_each = toset(["loader", "transformer", "analyst"])

  account_role_name = local.role_names[each.value]
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "WAREHOUSE"
    object_name = snowflake_warehouse.main.name
  }
}

# Caravan's loader and dbt run `create schema if not exists` for the schemas they use
# (docs/warehouse.md), hence CREATE SCHEMA; the analyst only reads.
resource "snowflake_grant_privileges_to_account_role" "database" {
  for_each = toset(["loader", "transformer", "analyst"])

  account_role_name = local.role_names[each.value]
  privileges        = each.value == "analyst" ? ["USAGE"] : ["USAGE", "CREATE SCHEMA"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.main.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema_usage" {
  for_each = merge(
    { for schema in concat(local.loader_schemas, ["MARTS"]) : "loader/${schema}" => { role = "loader", schema = schema } },
    { for schema in concat(local.transformer_schemas, ["LANDING"]) : "transformer/${schema}" => { role = "transformer", schema = schema } },
    { "analyst/ANALYTICS" = { role = "analyst", schema = "ANALYTICS" } },
  )

  account_role_name = local.role_names[each.value.role]
  privileges        = ["USAGE"]
  on_schema {
    schema_name = snowflake_schema.main[each.value.schema].fully_qualified_name
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema_create" {
  for_each = local.writes

  account_role_name = local.role_names[each.value.role]
  privileges        = each.value.role == "loader" ? ["CREATE TABLE", "CREATE STAGE"] : ["CREATE TABLE", "CREATE VIEW"]
  on_schema {
    schema_name = snowflake_schema.main[each.value.schema].fully_qualified_name
  }
}

# Tables a role did not create itself (e.g. made by another run's role) stay writable.
resource "snowflake_grant_privileges_to_account_role" "future_tables_write" {
  for_each = local.writes

  account_role_name = local.role_names[each.value.role]
  privileges        = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"]
  on_schema_object {
    future {
      object_type_plural = "TABLES"
      in_schema          = snowflake_schema.main[each.value.schema].fully_qualified_name
    }
  }
}

resource "snowflake_grant_privileges_to_account_role" "future_reads" {
  for_each = local.reads

  account_role_name = local.role_names[each.value.role]
  privileges        = ["SELECT"]
  on_schema_object {
    future {
      object_type_plural = each.value.objects
      in_schema          = snowflake_schema.main[each.value.schema].fully_qualified_name
    }
  }
}

resource "snowflake_storage_integration" "main" {
  name                      = var.names.storage_integration
  type                      = "EXTERNAL_STAGE"
  storage_provider          = "GCS"
  enabled                   = true
  storage_allowed_locations = ["gcs://${var.lake_bucket}/"]
  comment                   = "Caravan's lake, read in place by COPY INTO (CARAVAN_SNOWFLAKE_STORAGE_INTEGRATION)."
}

# The loader creates the external stage on the lake (landing.caravan_lake) through it.
resource "snowflake_grant_privileges_to_account_role" "integration" {
  account_role_name = local.role_names.loader
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "INTEGRATION"
    object_name = snowflake_storage_integration.main.name
  }
}

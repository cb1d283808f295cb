# The same names as the root module's variables, so that an env's tfvars file also feeds
# this module on its own (terraform/scripts/role_table.py renders docs/deploy.md's table
# that way).

variable "project_id" {
  description = "The GCP project of one environment (one project per environment)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6 to 30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "env" {
  description = "The environment: dev or prod."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be dev or prod."
  }
}

variable "prefix" {
  description = "The first part of every name (buckets, service accounts, secrets, Composer)."
  type        = string
  default     = "caravan"

  # A service account id is at most 30 characters: prefix, "-prod-" and "airflow" leave 17.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 2 to 17 lower-case letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "lake_bucket_name" {
  description = "The lake bucket's name; empty: <prefix>-<env>-lake-<project_id>."
  type        = string
  default     = ""

  # Cloud Storage's rules for a name without dots (a dotted name needs a verified domain).
  validation {
    condition = var.lake_bucket_name == "" || alltrue([
      can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.lake_bucket_name)),
      !startswith(var.lake_bucket_name, "goog"),
      !strcontains(var.lake_bucket_name, "google"),
    ])
    error_message = "lake_bucket_name must be 3 to 63 lower-case letters, digits, hyphens or underscores, start and end with a letter or digit, not start with \"goog\" nor contain \"google\"."
  }
}

variable "dataset_prefix" {
  description = "Put before each BigQuery dataset's name. Caravan's code and dbt name the datasets bare (landing, marts, ...), so leave it empty unless they are told the prefix too."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[a-z0-9_]{0,64}$", var.dataset_prefix))
    error_message = "dataset_prefix must be at most 64 lower-case letters, digits or underscores."
  }
}

variable "bigquery_location" {
  description = "Where the datasets live and BigQuery jobs run (CARAVAN_BIGQUERY_LOCATION); the lake bucket's location too."
  type        = string
  default     = "US"

  validation {
    condition     = can(regex("^[A-Za-z]+[A-Za-z0-9-]*[A-Za-z0-9]$", var.bigquery_location))
    error_message = "bigquery_location must be a location such as US, EU or europe-west1."
  }
}

variable "staging_retention_days" {
  description = "Days after which objects under staging/ (unpublished writes) are deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.staging_retention_days >= 1 && var.staging_retention_days <= 90 && floor(var.staging_retention_days) == var.staging_retention_days
    error_message = "staging_retention_days must be a whole number from 1 to 90."
  }
}

variable "quarantine_retention_days" {
  description = "Days after which objects under quarantine/ (rejected records and their reasons) are deleted."
  type        = number
  default     = 90

  # Rejected records are kept at least as long as the unpublished writes they came with.
  validation {
    condition = alltrue([
      var.quarantine_retention_days >= 7 && var.quarantine_retention_days <= 3650,
      floor(var.quarantine_retention_days) == var.quarantine_retention_days,
      var.quarantine_retention_days >= var.staging_retention_days,
    ])
    error_message = "quarantine_retention_days must be a whole number from 7 to 3650, and not less than staging_retention_days."
  }
}

variable "noncurrent_retention_days" {
  description = "Days a replaced or deleted lake object's old version is kept (the bucket is versioned)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_retention_days >= 1 && var.noncurrent_retention_days <= 365 && floor(var.noncurrent_retention_days) == var.noncurrent_retention_days
    error_message = "noncurrent_retention_days must be a whole number from 1 to 365."
  }
}

variable "connection_ids" {
  description = "The Airflow connections kept in Secret Manager (a secret each; the sources' credentials, the warehouse's)."
  type        = list(string)
  default     = ["google_ads_default", "meta_ads_default", "crm_default", "shop_db_default"]

  validation {
    condition     = alltrue([for id in var.connection_ids : can(regex("^[A-Za-z0-9_]{1,100}$", id))])
    error_message = "Each connection id must be 1 to 100 letters, digits or underscores (it becomes part of a secret's id)."
  }

  validation {
    condition     = length(distinct(var.connection_ids)) == length(var.connection_ids)
    error_message = "connection_ids must not repeat an id."
  }
}

variable "warehouse_target" {
  description = "The warehouse Caravan builds in (CARAVAN_TARGET): bigquery or snowflake."
  type        = string
  default     = "bigquery"

  validation {
    condition     = contains(["bigquery", "snowflake"], var.warehouse_target)
    error_message = "warehouse_target must be bigquery or snowflake."
  }
}

variable "dbt_runs_in_airflow" {
  description = "True when dbt runs inside Airflow's tasks (the warehouse DAG's Cosmos task, with the worker's credentials): the Airflow account then also gets dbt's dataset roles."
  type        = bool
  default     = true
}

variable "dbt_impersonators" {
  description = "Members (user:, group:, serviceAccount:) allowed to run dbt as the dbt service account, e.g. engineers or CI."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.dbt_impersonators : can(regex("^(user|group|serviceAccount):[^@\\s]+@[^@\\s]+$", member))])
    error_message = "Each dbt impersonator must be user:EMAIL, group:EMAIL or serviceAccount:EMAIL (never allUsers or allAuthenticatedUsers)."
  }
}

variable "enable_composer" {
  description = "Create a Cloud Composer 3 environment that runs Caravan's DAGs as the Airflow service account."
  type        = bool
  default     = false
}

variable "enable_snowflake" {
  description = "Create Snowflake's database, warehouse, roles and the storage integration on the lake bucket."
  type        = bool
  default     = false
}

variable "enable_spark_connect_cluster" {
  description = "Create a Dataproc cluster running a Spark Connect server (CARAVAN_SPARK_REMOTE); off: Dataproc Serverless batches only."
  type        = bool
  default     = false
}

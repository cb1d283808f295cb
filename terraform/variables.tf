# The naming module (modules/naming/variables.tf) validates the variables it shares with
# this file; the enums and ranges here are the ones only this module uses.

variable "project_id" {
  description = "The GCP project of one environment (one project per environment)."
  type        = string
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
}

variable "region" {
  description = "The region of Dataproc and Composer (e.g. us-central1); within bigquery_location."
  type        = string
  default     = "us-central1"
}

variable "lake_bucket_name" {
  description = "The lake bucket's name; empty: <prefix>-<env>-lake-<project_id>."
  type        = string
  default     = ""
}

variable "dataset_prefix" {
  description = "Put before each BigQuery dataset's name; empty, as Caravan's code and dbt expect (an environment is a project)."
  type        = string
  default     = ""
}

variable "bigquery_location" {
  description = "Location of the datasets, BigQuery's jobs and the lake bucket (they must agree for loads)."
  type        = string
  default     = "US"
}

variable "staging_retention_days" {
  description = "Days after which lake objects under staging/ are deleted."
  type        = number
  default     = 7
}

variable "quarantine_retention_days" {
  description = "Days after which lake objects under quarantine/ are deleted."
  type        = number
  default     = 90
}

variable "noncurrent_retention_days" {
  description = "Days a replaced or deleted lake object's old version is kept."
  type        = number
  default     = 30
}

variable "connection_ids" {
  description = "Airflow connections kept in Secret Manager, one secret each (values added with gcloud, never here)."
  type        = list(string)
  default     = ["google_ads_default", "meta_ads_default", "crm_default", "shop_db_default"]
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
  description = "dbt runs inside Airflow's tasks (Cosmos, with the worker's credentials), so Airflow's account also gets dbt's dataset roles."
  type        = bool
  default     = true
}

variable "dbt_impersonators" {
  description = "Members (user:, group:, serviceAccount:) allowed to run dbt as the dbt service account."
  type        = list(string)
  default     = []
}

variable "network" {
  description = "The VPC network for Dataproc and Composer (name or self link); null: the project's default network."
  type        = string
  default     = null
}

variable "subnetwork" {
  description = "The subnetwork for Dataproc (batches and cluster) and Composer; it needs Private Google Access. null: the default network's subnetwork in region."
  type        = string
  default     = null
}

variable "enable_spark_connect_cluster" {
  description = "Create a Dataproc cluster running Spark Connect (CARAVAN_SPARK_REMOTE). Off: Serverless batches only, which need no cluster."
  type        = bool
  default     = false
}

variable "dataproc_image_version" {
  description = "The Spark Connect cluster's Dataproc image; its Spark must be one Caravan's pyspark client can talk to (docs/deploy.md)."
  type        = string
  default     = "2.3-debian12"
}

variable "spark_connect_machine_type" {
  description = "Machine type of the Spark Connect cluster's master and workers."
  type        = string
  default     = "n2-standard-4"
}

variable "spark_connect_workers" {
  description = "Number of primary workers of the Spark Connect cluster (0: a single-node cluster)."
  type        = number
  default     = 2

  validation {
    condition     = var.spark_connect_workers == 0 || (var.spark_connect_workers >= 2 && var.spark_connect_workers <= 50)
    error_message = "spark_connect_workers must be 0 (single node) or 2 to 50 (Dataproc's standard clusters have at least 2)."
  }
}

variable "spark_connect_client_ranges" {
  description = "Internal CIDR ranges allowed to reach the Spark Connect port (15002): where Airflow's workers run."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for range in var.spark_connect_client_ranges : can(cidrhost(range, 0)) && range != "0.0.0.0/0"])
    error_message = "spark_connect_client_ranges must be CIDR ranges, never 0.0.0.0/0."
  }
}

variable "enable_composer" {
  description = "Create a Cloud Composer 3 environment running Caravan's DAGs as the Airflow service account."
  type        = bool
  default     = false
}

variable "composer_image_version" {
  description = "Composer 3 image: composer-3-airflow-<version>[-build.<n>] (gcloud composer environments list-image-versions)."
  type        = string
  default     = "composer-3-airflow-3.1.8"

  validation {
    condition     = startswith(var.composer_image_version, "composer-3-airflow-3.")
    error_message = "composer_image_version must be a Composer 3 image with Airflow 3 (Caravan's DAGs use the Airflow 3 SDK)."
  }
}

variable "composer_environment_size" {
  description = "Composer's environment size: ENVIRONMENT_SIZE_SMALL, _MEDIUM or _LARGE."
  type        = string
  default     = "ENVIRONMENT_SIZE_SMALL"

  validation {
    condition     = contains(["ENVIRONMENT_SIZE_SMALL", "ENVIRONMENT_SIZE_MEDIUM", "ENVIRONMENT_SIZE_LARGE"], var.composer_environment_size)
    error_message = "composer_environment_size must be ENVIRONMENT_SIZE_SMALL, ENVIRONMENT_SIZE_MEDIUM or ENVIRONMENT_SIZE_LARGE."
  }
}

variable "composer_pypi_packages" {
  description = "Extra PyPI packages for Composer, name => version specifier (e.g. \"astronomer-cosmos\" = \"==1.15.1\")."
  type        = map(string)
  default     = {}
}

variable "enable_snowflake" {
  description = "Create Snowflake's database, warehouse, roles, grants and the storage integration on the lake bucket."
  type        = bool
  default     = false
}

variable "snowflake_organization_name" {
  description = "Snowflake organization name (the first part of the account identifier)."
  type        = string
  default     = null
}

variable "snowflake_account_name" {
  description = "Snowflake account name (the second part of the account identifier)."
  type        = string
  default     = null
}

variable "snowflake_user" {
  description = "The Snowflake user Terraform logs in as (key pair; the key from SNOWFLAKE_PRIVATE_KEY)."
  type        = string
  default     = null
}

variable "snowflake_role" {
  description = "The role Terraform uses in Snowflake: it creates a database, a warehouse, roles and an integration."
  type        = string
  default     = null
}

variable "snowflake_warehouse_size" {
  description = "Size of Caravan's Snowflake warehouse."
  type        = string
  default     = "XSMALL"

  validation {
    condition     = contains(["XSMALL", "SMALL", "MEDIUM", "LARGE"], var.snowflake_warehouse_size)
    error_message = "snowflake_warehouse_size must be XSMALL, SMALL, MEDIUM or LARGE."
  }
}

variable "snowflake_role_users" {
  description = "Snowflake users to grant Caravan's roles to, by role: runtime (Airflow's connection), transformer (dbt outside Airflow), analyst."
  type = object({
    runtime     = optional(list(string), [])
    transformer = optional(list(string), [])
    analyst     = optional(list(string), [])
  })
  default = {}
}

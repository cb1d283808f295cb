# Names worked out by hand from the rules in main.tf, for a dev and a prod project.

variables {
  project_id = "acme-data-dev"
  env        = "dev"
}

run "dev_names_from_prefix_env_and_project" {
  command = plan

  assert {
    condition     = output.lake_bucket == "caravan-dev-lake-acme-data-dev"
    error_message = "lake bucket: ${output.lake_bucket}"
  }
  assert {
    condition     = output.dataproc_staging_bucket == "caravan-dev-dataproc-acme-data-dev"
    error_message = "Dataproc staging bucket: ${output.dataproc_staging_bucket}"
  }
  assert {
    condition     = output.service_accounts.airflow.email == "caravan-dev-airflow@acme-data-dev.iam.gserviceaccount.com"
    error_message = "Airflow account: ${output.service_accounts.airflow.email}"
  }
  assert {
    condition     = [for key in ["airflow", "spark", "dbt"] : output.service_accounts[key].account_id] == ["caravan-dev-airflow", "caravan-dev-spark", "caravan-dev-dbt"]
    error_message = "service account ids"
  }
  assert {
    condition = output.datasets == {
      for schema in ["landing", "staging", "intermediate", "snapshots", "marts", "analytics", "quality"] : schema => schema
    }
    error_message = "datasets keep Caravan's bare schema names by default"
  }
  assert {
    condition     = output.secret_ids["crm_default"] == "caravan-dev-connections-crm_default" && length(output.secret_ids) == 4
    error_message = "secret ids"
  }
  assert {
    condition     = output.lifecycle_rules == [{ prefix = "staging/", age_days = 7 }, { prefix = "quarantine/", age_days = 90 }]
    error_message = "lifecycle rules"
  }
  assert {
    condition     = output.protect_data == false
    error_message = "dev's data is not protected from destroy"
  }
  assert {
    condition     = output.composer_environment == "caravan-dev-composer" && output.dataproc_cluster == "caravan-dev-spark"
    error_message = "Composer environment or Dataproc cluster name"
  }
  assert {
    condition     = output.snowflake.database == "CARAVAN_DEV" && output.snowflake.loader_role == "CARAVAN_DEV_LOADER" && output.snowflake.storage_integration == "CARAVAN_DEV_LAKE"
    error_message = "Snowflake names"
  }
}

run "composer_settings_point_at_the_lake_and_secret_manager" {
  command = plan

  variables {
    enable_snowflake = true
    warehouse_target = "snowflake"
  }

  assert {
    condition = output.composer_env_variables == {
      CARAVAN_LAKE_URL                      = "gs://caravan-dev-lake-acme-data-dev"
      CARAVAN_TARGET                        = "snowflake"
      CARAVAN_HOME                          = "/home/airflow/gcs/data/caravan"
      CARAVAN_PROJECT_DIR                   = "/home/airflow/gcs/data"
      CARAVAN_BIGQUERY_PROJECT              = "acme-data-dev"
      CARAVAN_BIGQUERY_LOCATION             = "US"
      CARAVAN_SNOWFLAKE_STORAGE_INTEGRATION = "CARAVAN_DEV_LAKE"
    }
    error_message = "Composer's CARAVAN_* variables"
  }
  # Airflow looks up "<connections_prefix>-<conn_id>": exactly the secrets' ids.
  assert {
    condition     = "${output.secrets_backend_kwargs.connections_prefix}${output.secrets_backend_kwargs.sep}shop_db_default" == output.secret_ids["shop_db_default"]
    error_message = "the secrets backend would not find the secrets"
  }
  assert {
    condition     = output.secrets_backend_kwargs.variables_prefix == null && output.secrets_backend_kwargs.project_id == "acme-data-dev"
    error_message = "secrets backend kwargs"
  }
}

run "prod_protects_data_and_takes_overrides" {
  command = plan

  variables {
    project_id                = "acme-data-prod"
    env                       = "prod"
    lake_bucket_name          = "acme_caravan_lake"
    dataset_prefix            = "caravan_"
    staging_retention_days    = 3
    quarantine_retention_days = 365
    connection_ids            = ["crm_default"]
  }

  assert {
    condition     = output.lake_bucket == "acme_caravan_lake" && output.dataproc_staging_bucket == "caravan-prod-dataproc-acme-data-prod"
    error_message = "an explicit lake bucket name replaces only the lake's"
  }
  assert {
    condition     = output.datasets.marts == "caravan_marts" && output.datasets.landing == "caravan_landing"
    error_message = "dataset prefix"
  }
  assert {
    condition     = output.lifecycle_rules == [{ prefix = "staging/", age_days = 3 }, { prefix = "quarantine/", age_days = 365 }]
    error_message = "lifecycle rules from the retention variables"
  }
  assert {
    condition     = output.protect_data && output.composer_env_variables.CARAVAN_LAKE_URL == "gs://acme_caravan_lake"
    error_message = "prod protects its data"
  }
  assert {
    condition     = !contains(keys(output.composer_env_variables), "CARAVAN_SNOWFLAKE_STORAGE_INTEGRATION")
    error_message = "no storage integration setting without Snowflake"
  }
}

# The longest prefix allowed still gives a service account id of 30 characters, the limit.
run "longest_prefix_fits_service_account_ids" {
  command = plan

  variables {
    prefix = "abcdefghijklmnopq"
    env    = "prod"
  }

  assert {
    condition     = output.service_accounts.airflow.account_id == "abcdefghijklmnopq-prod-airflow" && length(output.service_accounts.airflow.account_id) == 30
    error_message = "account id: ${output.service_accounts.airflow.account_id}"
  }
}

# Each bad input is refused by the check that names it.

variables {
  project_id = "acme-data-dev"
  env        = "dev"
}

run "env_other_than_dev_or_prod" {
  command = plan
  variables {
    env = "staging"
  }
  expect_failures = [var.env]
}

run "project_id_with_upper_case" {
  command = plan
  variables {
    project_id = "Acme-Data"
  }
  expect_failures = [var.project_id]
}

run "prefix_with_upper_case" {
  command = plan
  variables {
    prefix = "Caravan"
  }
  expect_failures = [var.prefix]
}

run "prefix_too_long_for_service_account_ids" {
  command = plan
  variables {
    prefix = "abcdefghijklmnopqr"
  }
  expect_failures = [var.prefix]
}

run "bucket_name_with_a_dot" {
  command = plan
  variables {
    lake_bucket_name = "lake.acme.example"
  }
  expect_failures = [var.lake_bucket_name]
}

run "bucket_name_with_google" {
  command = plan
  variables {
    lake_bucket_name = "acme-google-lake"
  }
  expect_failures = [var.lake_bucket_name]
}

run "bucket_name_too_short" {
  command = plan
  variables {
    lake_bucket_name = "ab"
  }
  expect_failures = [var.lake_bucket_name]
}

# A derived name is checked as well: "goog" at the start of the prefix.
run "derived_bucket_names_starting_with_goog" {
  command = plan
  variables {
    prefix = "goog"
  }
  expect_failures = [output.lake_bucket, output.dataproc_staging_bucket]
}

run "staging_retention_zero_days" {
  command = plan
  variables {
    staging_retention_days = 0
  }
  expect_failures = [var.staging_retention_days]
}

run "staging_retention_over_90_days" {
  command = plan
  variables {
    staging_retention_days    = 91
    quarantine_retention_days = 120
  }
  expect_failures = [var.staging_retention_days]
}

run "retention_in_fractional_days" {
  command = plan
  variables {
    staging_retention_days = 1.5
  }
  expect_failures = [var.staging_retention_days]
}

run "quarantine_shorter_than_staging" {
  command = plan
  variables {
    staging_retention_days    = 30
    quarantine_retention_days = 14
  }
  expect_failures = [var.quarantine_retention_days]
}

run "connection_id_with_a_hyphen" {
  command = plan
  variables {
    connection_ids = ["crm-default"]
  }
  expect_failures = [var.connection_ids]
}

run "connection_id_twice" {
  command = plan
  variables {
    connection_ids = ["crm_default", "crm_default"]
  }
  expect_failures = [var.connection_ids]
}

run "public_impersonator" {
  command = plan
  variables {
    dbt_impersonators = ["allUsers"]
  }
  expect_failures = [var.dbt_impersonators]
}

run "warehouse_other_than_bigquery_or_snowflake" {
  command = plan
  variables {
    warehouse_target = "duckdb"
  }
  expect_failures = [var.warehouse_target]
}

# The role table, counted and checked row by row by hand from main.tf's rules:
# airflow 4 fixed rows (lake objectUser, bigquery.jobUser, dataproc.serverlessEditor,
# serviceAccountUser on the Spark account) + its datasets + one secretAccessor per secret;
# spark 3 (dataproc.worker, objectUser on the lake and the staging bucket); dbt 1
# (bigquery.jobUser) + 5 datasets.

variables {
  project_id = "acme-data-dev"
  env        = "dev"
}

run "dbt_inside_airflow_gives_airflow_dbt_dataset_roles" {
  command = plan

  # Airflow's datasets: landing, marts, analytics, quality and dbt's staging, intermediate,
  # snapshots: 7, all dataEditor. 4 + 7 + 4 secrets + 3 + 1 + 5 = 24.
  assert {
    condition     = length(output.role_table) == 24
    error_message = "rows: ${length(output.role_table)}"
  }
  assert {
    condition = { for row in output.role_table : row.target => row.role if row.grantee == "airflow" && row.scope == "dataset" } == {
      for schema in ["landing", "staging", "intermediate", "snapshots", "marts", "analytics", "quality"] : schema => "roles/bigquery.dataEditor"
    }
    error_message = "Airflow's dataset roles"
  }
  assert {
    condition = { for row in output.role_table : row.target => row.role if row.grantee == "dbt" && row.scope == "dataset" } == merge(
      { landing = "roles/bigquery.dataViewer" },
      { for schema in ["staging", "intermediate", "snapshots", "marts"] : schema => "roles/bigquery.dataEditor" },
    )
    error_message = "dbt's dataset roles"
  }
  assert {
    condition     = sort([for row in output.role_table : row.target if row.role == "roles/secretmanager.secretAccessor"]) == tolist(["caravan-dev-connections-crm_default", "caravan-dev-connections-google_ads_default", "caravan-dev-connections-meta_ads_default", "caravan-dev-connections-shop_db_default"])
    error_message = "secret access is granted secret by secret"
  }
  assert {
    condition     = sort([for row in output.role_table : "${row.grantee} ${row.role}" if row.scope == "project"]) == tolist(["airflow roles/bigquery.jobUser", "airflow roles/dataproc.serverlessEditor", "dbt roles/bigquery.jobUser", "spark roles/dataproc.worker"])
    error_message = "project-level grants"
  }
  assert {
    condition     = length(output.role_bindings) == length(output.role_table)
    error_message = "two rows share a key"
  }
}

run "dbt_outside_airflow_leaves_airflow_its_own_roles" {
  command = plan

  variables {
    dbt_runs_in_airflow = false
  }

  # 4 + 4 datasets + 4 secrets + 3 + 1 + 5 = 21.
  assert {
    condition     = length(output.role_table) == 21
    error_message = "rows: ${length(output.role_table)}"
  }
  assert {
    condition = { for row in output.role_table : row.target => row.role if row.grantee == "airflow" && row.scope == "dataset" } == {
      landing   = "roles/bigquery.dataEditor"
      marts     = "roles/bigquery.dataViewer"
      analytics = "roles/bigquery.dataEditor"
      quality   = "roles/bigquery.dataEditor"
    }
    error_message = "Airflow reads the marts only"
  }
}

run "composer_and_impersonators_add_their_rows" {
  command = plan

  variables {
    enable_composer   = true
    dbt_impersonators = ["group:data-eng@acme.example"]
  }

  assert {
    condition     = length(output.role_table) == 26
    error_message = "rows: ${length(output.role_table)}"
  }
  assert {
    condition     = contains([for row in output.role_table : "${row.member} ${row.role} ${row.scope}" if row.grantee == "airflow"], "serviceAccount:caravan-dev-airflow@acme-data-dev.iam.gserviceaccount.com roles/composer.worker project")
    error_message = "Composer's worker role"
  }
  assert {
    condition     = output.role_bindings["group:data-eng@acme.example/roles/iam.serviceAccountTokenCreator/service_account/caravan-dev-dbt@acme-data-dev.iam.gserviceaccount.com"].member == "group:data-eng@acme.example"
    error_message = "impersonation of the dbt account only"
  }
}

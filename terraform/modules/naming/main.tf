locals {
  name_prefix = "${var.prefix}-${var.env}"

  # Bucket names are global: the project id makes them unique without a random suffix,
  # so the same inputs always give the same names (and docs/deploy.md's table).
  lake_bucket             = var.lake_bucket_name != "" ? var.lake_bucket_name : "${local.name_prefix}-lake-${var.project_id}"
  dataproc_staging_bucket = "${local.name_prefix}-dataproc-${var.project_id}"

  # prod keeps its data when a resource is destroyed by mistake; dev can be torn down whole.
  protect_data = var.env == "prod"

  # DESIGN.md's warehouse schemas, plus dbt's snapshots (dbt_project/snapshots).
  schemas  = ["landing", "staging", "intermediate", "snapshots", "marts", "analytics", "quality"]
  datasets = { for schema in local.schemas : schema => "${var.dataset_prefix}${schema}" }

  # DESIGN.md's lake zones that hold only transient data.
  lifecycle_rules = [
    { prefix = "staging/", age_days = var.staging_retention_days },
    { prefix = "quarantine/", age_days = var.quarantine_retention_days },
  ]

  service_accounts = {
    airflow = {
      account_id   = "${local.name_prefix}-airflow"
      display_name = "Caravan ${var.env}: Airflow runtime (Composer or your own)"
    }
    spark = {
      account_id   = "${local.name_prefix}-spark"
      display_name = "Caravan ${var.env}: Spark jobs on Dataproc"
    }
    dbt = {
      account_id   = "${local.name_prefix}-dbt"
      display_name = "Caravan ${var.env}: dbt builds in BigQuery"
    }
  }
  emails = { for key, account in local.service_accounts : key => "${account.account_id}@${var.project_id}.iam.gserviceaccount.com" }

  # Airflow's own connection lookups: CloudSecretManagerBackend reads the secret
  # "<connections_prefix><sep><conn_id>", so the secrets are named for it.
  connections_prefix = "${local.name_prefix}-connections"
  secret_ids         = { for id in var.connection_ids : id => "${local.connections_prefix}-${id}" }

  snowflake_prefix = upper(replace(local.name_prefix, "-", "_"))
  snowflake = {
    database            = local.snowflake_prefix
    warehouse           = "${local.snowflake_prefix}_WH"
    loader_role         = "${local.snowflake_prefix}_LOADER"
    transformer_role    = "${local.snowflake_prefix}_TRANSFORMER"
    analyst_role        = "${local.snowflake_prefix}_ANALYST"
    runtime_role        = "${local.snowflake_prefix}_RUNTIME"
    storage_integration = "${local.snowflake_prefix}_LAKE"
    schemas             = [for schema in local.schemas : upper(schema)]
  }

  editor = "roles/bigquery.dataEditor"
  viewer = "roles/bigquery.dataViewer"

  # What each account does in BigQuery, dataset by dataset.
  dbt_dataset_roles = {
    landing      = local.viewer # dbt's sources
    staging      = local.editor
    intermediate = local.editor
    snapshots    = local.editor
    marts        = local.editor
  }
  airflow_own_dataset_roles = {
    landing   = local.editor # loads curated partitions
    marts     = local.viewer # the marts gate reads them; publishing copies them
    analytics = local.editor # publishes the gated marts
    quality   = local.editor # the gates' validation results
  }
  # dbt inside Airflow's tasks runs with Airflow's credentials: the editor role wins
  # where the two sets meet.
  airflow_dataset_roles = var.dbt_runs_in_airflow ? {
    for schema in distinct(concat(keys(local.airflow_own_dataset_roles), keys(local.dbt_dataset_roles))) :
    schema => contains([lookup(local.airflow_own_dataset_roles, schema, ""), lookup(local.dbt_dataset_roles, schema, "")], local.editor) ? local.editor : local.viewer
  } : local.airflow_own_dataset_roles

  dataset_reasons = {
    airflow = {
      landing      = "loads curated partitions into it"
      staging      = "dbt (run by Airflow's tasks) builds its views"
      intermediate = "dbt (run by Airflow's tasks) builds its views"
      snapshots    = "dbt (run by Airflow's tasks) writes its snapshots"
      marts        = var.dbt_runs_in_airflow ? "dbt (run by Airflow's tasks) builds the marts; the marts gate reads them" : "the marts gate reads them; publishing copies them"
      analytics    = "publishes the gated marts"
      quality      = "records the gates' validation results"
    }
    dbt = {
      landing      = "reads its sources"
      staging      = "builds its views"
      intermediate = "builds its views"
      snapshots    = "writes its snapshots"
      marts        = "builds the marts"
    }
  }

  # The role table: who gets which predefined role on what, and why, one row
  # [grantee, role, scope, target, reason] each. Every IAM grant to Caravan's accounts in the
  # root module is made from it, and docs/deploy.md's table is rendered from it. Narrowest
  # scope first: a bucket, a dataset, a secret or a service account; the project only where a
  # role has no narrower scope.
  rows = concat(
    [
      ["airflow", "roles/storage.objectUser", "bucket", local.lake_bucket, "ingests into raw and quarantine, publishes manifests, reads curated partitions to load"],
      ["airflow", "roles/bigquery.jobUser", "project", var.project_id, "runs load, query and copy jobs (a job has no narrower scope)"],
      ["airflow", "roles/dataproc.serverlessEditor", "project", var.project_id, "submits the Spark jobs as Dataproc Serverless batches (no narrower scope)"],
      ["airflow", "roles/iam.serviceAccountUser", "service_account", local.emails.spark, "runs those batches as the Spark account"],
    ],
    var.enable_composer ? [
      ["airflow", "roles/composer.worker", "project", var.project_id, "is the Composer 3 environment's service account"],
    ] : [],
    [for schema, role in local.airflow_dataset_roles : ["airflow", role, "dataset", local.datasets[schema], local.dataset_reasons.airflow[schema]]],
    [for id in var.connection_ids : ["airflow", "roles/secretmanager.secretAccessor", "secret", local.secret_ids[id], "reads the connection ${id} (Airflow's Secret Manager backend)"]],
    [
      ["spark", "roles/dataproc.worker", "project", var.project_id, "runs Dataproc batches and cluster VMs (required of their service account)"],
      ["spark", "roles/storage.objectUser", "bucket", local.lake_bucket, "reads raw partitions, writes curated ones"],
      ["spark", "roles/storage.objectUser", "bucket", local.dataproc_staging_bucket, "reads the jobs' code, writes Spark's staging and temporary files"],
      ["dbt", "roles/bigquery.jobUser", "project", var.project_id, "runs dbt's query jobs (a job has no narrower scope)"],
    ],
    [for schema, role in local.dbt_dataset_roles : ["dbt", role, "dataset", local.datasets[schema], local.dataset_reasons.dbt[schema]]],
    [for member in var.dbt_impersonators : [member, "roles/iam.serviceAccountTokenCreator", "service_account", local.emails.dbt, "runs dbt as the dbt account (impersonation), never with a key"]],
  )

  role_table = [
    for row in local.rows : {
      grantee = row[0]
      member  = contains(keys(local.emails), row[0]) ? "serviceAccount:${local.emails[row[0]]}" : row[0]
      role    = row[1]
      scope   = row[2]
      target  = row[3]
      reason  = row[4]
    }
  ]

  role_bindings = { for row in local.role_table : "${row.grantee}/${row.role}/${row.scope}/${row.target}" => row }

  # The Airflow settings Caravan reads (plugins/caravan/settings.py), as Composer sets them.
  # Composer syncs only its bucket's dags/, plugins/ and data/ folders: the dbt project and a
  # copy of dags/sources.yaml go under data/ (docs/deploy.md).
  composer_env_variables = merge(
    {
      CARAVAN_LAKE_URL          = "gs://${local.lake_bucket}"
      CARAVAN_TARGET            = var.warehouse_target
      CARAVAN_HOME              = "/home/airflow/gcs/data/caravan"
      CARAVAN_PROJECT_DIR       = "/home/airflow/gcs/data"
      CARAVAN_BIGQUERY_PROJECT  = var.project_id
      CARAVAN_BIGQUERY_LOCATION = var.bigquery_location
    },
    var.enable_snowflake ? { CARAVAN_SNOWFLAKE_STORAGE_INTEGRATION = local.snowflake.storage_integration } : {},
  )

  # Airflow reads connections from Secret Manager first; Caravan keeps no Variables or
  # config there, so those lookups are off (null) instead of asking for secrets it may not read.
  secrets_backend = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
  secrets_backend_kwargs = {
    connections_prefix = local.connections_prefix
    variables_prefix   = null
    config_prefix      = null
    sep                = "-"
    project_id         = var.project_id
  }
}

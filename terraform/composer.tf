# Cloud Composer 3 (enable_composer): Airflow run by Google, as the Airflow service account,
# with Caravan's settings and connections from Secret Manager. Without it, run your own
# Airflow (docs/deploy.md) as the same account.

data "google_project" "main" {}

# Composer's service agent manages the environment's workloads as the Airflow account.
resource "google_service_account_iam_member" "composer_agent" {
  count = var.enable_composer ? 1 : 0

  service_account_id = google_service_account.main["airflow"].name
  role               = "roles/composer.ServiceAgentV2Ext"
  member             = "serviceAccount:service-${data.google_project.main.number}@cloudcomposer-accounts.iam.gserviceaccount.com"
}

resource "google_composer_environment" "main" {
  count = var.enable_composer ? 1 : 0

  name   = module.naming.composer_environment
  region = var.region

  config {
    environment_size           = var.composer_environment_size
    enable_private_environment = true

    software_config {
      image_version = var.composer_image_version
      pypi_packages = var.composer_pypi_packages
      env_variables = merge(
        module.naming.composer_env_variables,
        local.spark_remote == null ? {} : { CARAVAN_SPARK_REMOTE = local.spark_remote },
      )
      airflow_config_overrides = {
        "secrets-backend"        = module.naming.secrets_backend
        "secrets-backend_kwargs" = jsonencode(module.naming.secrets_backend_kwargs)
      }
    }

    node_config {
      service_account = google_service_account.main["airflow"].email
      # Attached to the VPC (when given) so that tasks reach the Spark Connect cluster.
      network    = var.network
      subnetwork = var.subnetwork
    }
  }

  depends_on = [
    google_project_iam_member.main,
    google_service_account_iam_member.composer_agent,
  ]
}

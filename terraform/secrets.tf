# The secrets only: their values (Airflow connections as JSON) are added as versions with
# gcloud (docs/deploy.md), so they are never in this repository nor in Terraform's state.
resource "google_secret_manager_secret" "main" {
  for_each = module.naming.secret_ids

  secret_id = each.value

  labels = {
    connection = lower(each.key)
  }

  replication {
    auto {}
  }
}

locals {
  connection_by_secret = { for connection, secret_id in module.naming.secret_ids : secret_id => connection }
}

resource "google_secret_manager_secret_iam_member" "main" {
  for_each = local.bindings_by_scope.secret

  project    = var.project_id
  secret_id  = google_secret_manager_secret.main[local.connection_by_secret[each.value.target]].secret_id
  role       = each.value.role
  member     = each.value.member
  depends_on = [google_service_account.main]
}

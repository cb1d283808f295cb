# One service account per role; what each may do is the naming module's role table.
resource "google_service_account" "main" {
  for_each = module.naming.service_accounts

  account_id   = each.value.account_id
  display_name = each.value.display_name
  description  = "Caravan ${var.env}. Its roles: docs/deploy.md, the role table."
}

locals {
  account_by_email = { for key, account in module.naming.service_accounts : account.email => key }
}

# Only roles with no narrower scope (BigQuery jobs, Dataproc batches, Composer's worker).
resource "google_project_iam_member" "main" {
  for_each = local.bindings_by_scope.project

  project    = var.project_id
  role       = each.value.role
  member     = each.value.member
  depends_on = [google_service_account.main]
}

# Acting as another of Caravan's accounts: Airflow runs batches as Spark's; people run dbt as dbt's.
resource "google_service_account_iam_member" "main" {
  for_each = local.bindings_by_scope.service_account

  service_account_id = google_service_account.main[local.account_by_email[each.value.target]].name
  role               = each.value.role
  member             = each.value.member
  depends_on         = [google_service_account.main]
}

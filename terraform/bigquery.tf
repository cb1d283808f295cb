# The warehouse schemas of DESIGN.md, one dataset each, in the bucket's location.
resource "google_bigquery_dataset" "main" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption; a customer-managed key would add a KMS keyring, its rotation and its IAM, which no requirement asks for.
  for_each = module.naming.datasets

  dataset_id                 = each.value
  location                   = var.bigquery_location
  description                = "Caravan ${var.env}: the ${each.key} schema."
  delete_contents_on_destroy = !module.naming.protect_data

  labels = {
    schema = each.key
  }
}

locals {
  schema_by_dataset = { for schema, dataset_id in module.naming.datasets : dataset_id => schema }
}

resource "google_bigquery_dataset_iam_member" "main" {
  for_each = local.bindings_by_scope.dataset

  dataset_id = google_bigquery_dataset.main[local.schema_by_dataset[each.value.target]].dataset_id
  role       = each.value.role
  member     = each.value.member
  depends_on = [google_service_account.main]
}

# The lake (DESIGN.md: {lake}/{zone}/{source}/{entity}/ds=.../): CARAVAN_LAKE_URL = gs://<bucket>.
resource "google_storage_bucket" "lake" {
  #checkov:skip=CKV_GCP_62:Access is audited by Cloud Audit Logs (Data Access logs on Cloud Storage); usage logs would need a second, unlogged bucket.
  name          = module.naming.lake_bucket
  location      = var.bigquery_location
  storage_class = "STANDARD"
  force_destroy = !module.naming.protect_data

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # A rerun replaces a partition whole: the replaced files stay recoverable for a while.
  versioning {
    enabled = true
  }

  # staging/ (unpublished writes) and quarantine/ (rejected records) are transient zones.
  dynamic "lifecycle_rule" {
    for_each = module.naming.lifecycle_rules
    content {
      condition {
        age            = lifecycle_rule.value.age_days
        matches_prefix = [lifecycle_rule.value.prefix]
      }
      action {
        type = "Delete"
      }
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = module.naming.noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}

locals {
  # Bucket names in the role table, mapped to the resources (so grants wait for the buckets).
  buckets = {
    (module.naming.lake_bucket)             = google_storage_bucket.lake.name
    (module.naming.dataproc_staging_bucket) = google_storage_bucket.dataproc_staging.name
  }
}

resource "google_storage_bucket_iam_member" "main" {
  for_each = local.bindings_by_scope.bucket

  bucket     = local.buckets[each.value.target]
  role       = each.value.role
  member     = each.value.member
  depends_on = [google_service_account.main]
}

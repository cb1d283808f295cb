# Spark on Dataproc. Serverless batches need no cluster: a batch names the Spark account,
# this staging bucket and a subnetwork with Private Google Access (output
# dataproc_batch_settings). The optional cluster serves Spark Connect for
# CARAVAN_SPARK_REMOTE, which Caravan's transform tasks use as they are.

resource "google_storage_bucket" "dataproc_staging" {
  #checkov:skip=CKV_GCP_62:Access is audited by Cloud Audit Logs (Data Access logs on Cloud Storage); usage logs would need a second, unlogged bucket.
  name          = module.naming.dataproc_staging_bucket
  location      = var.region
  storage_class = "STANDARD"
  force_destroy = true # only the jobs' code (deployed again from the repo) and Spark's temporary files

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# Starts Spark's Connect server on the cluster's master (the script says how).
resource "google_storage_bucket_object" "spark_connect_init" {
  count = var.enable_spark_connect_cluster ? 1 : 0

  bucket = google_storage_bucket.dataproc_staging.name
  name   = "init/start-spark-connect.sh"
  source = "${path.module}/scripts/start-spark-connect.sh"
}

resource "google_dataproc_cluster" "main" {
  #checkov:skip=CKV_GCP_91:Disks use Google-managed encryption; a customer-managed key would add a KMS keyring and its IAM, which no requirement asks for.
  count = var.enable_spark_connect_cluster ? 1 : 0

  name   = module.naming.dataproc_cluster
  region = var.region

  cluster_config {
    staging_bucket = google_storage_bucket.dataproc_staging.name

    gce_cluster_config {
      service_account        = google_service_account.main["spark"].email
      service_account_scopes = ["cloud-platform"]
      subnetwork             = var.subnetwork
      # No external address: the Connect port is reached on the VPC only.
      internal_ip_only = true
      tags             = ["caravan-spark-connect"]

      shielded_instance_config {
        enable_secure_boot          = true
        enable_vtpm                 = true
        enable_integrity_monitoring = true
      }
    }

    master_config {
      num_instances = 1
      machine_type  = var.spark_connect_machine_type
    }

    worker_config {
      num_instances = var.spark_connect_workers
      machine_type  = var.spark_connect_machine_type
    }

    software_config {
      image_version = var.dataproc_image_version
      override_properties = var.spark_connect_workers == 0 ? {
        "dataproc:dataproc.allow.zero.workers" = "true"
      } : {}
    }

    initialization_action {
      script      = "gs://${google_storage_bucket.dataproc_staging.name}/${google_storage_bucket_object.spark_connect_init[0].name}"
      timeout_sec = 600
    }

    endpoint_config {
      enable_http_port_access = false
    }
  }
}

# Airflow's workers reach the Connect server's port, and nothing else does.
resource "google_compute_firewall" "spark_connect" {
  count = var.enable_spark_connect_cluster && length(var.spark_connect_client_ranges) > 0 ? 1 : 0

  name          = "${module.naming.name_prefix}-spark-connect"
  network       = coalesce(var.network, "default")
  direction     = "INGRESS"
  source_ranges = var.spark_connect_client_ranges
  target_tags   = ["caravan-spark-connect"]

  allow {
    protocol = "tcp"
    ports    = ["15002"]
  }
}

locals {
  # sc://<master>.<zone>.c.<project>.internal:15002 — the master's internal DNS name.
  spark_remote = var.enable_spark_connect_cluster ? format(
    "sc://%s-m.%s.c.%s.internal:15002",
    google_dataproc_cluster.main[0].name,
    google_dataproc_cluster.main[0].cluster_config[0].gce_cluster_config[0].zone,
    var.project_id,
  ) : null
}

terraform {
  # Cross-variable validation in the naming module needs 1.9.
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    # The provider Snowflake-Labs/terraform-provider-snowflake publishes; its registry
    # namespace moved from Snowflake-Labs/snowflake to snowflakedb/snowflake at 1.x.
    snowflake = {
      source  = "snowflakedb/snowflake"
      version = ">= 2.0, < 3.0"
    }
  }

  # State in a GCS bucket made once by hand (docs/deploy.md): one prefix per environment,
  # given at init with -backend-config.
  backend "gcs" {}
}

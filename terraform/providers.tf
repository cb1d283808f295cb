provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app = "caravan"
    env = var.env
  }
}

# Key-pair login: the private key comes from SNOWFLAKE_PRIVATE_KEY in the environment of the
# person or CI running Terraform, never from a file here or a variable.
provider "snowflake" {
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.snowflake_user
  role              = var.snowflake_role
  authenticator     = "SNOWFLAKE_JWT"

  # snowflake_storage_integration is a preview resource in the 2.x provider.
  preview_features_enabled = ["snowflake_storage_integration_resource"]
}

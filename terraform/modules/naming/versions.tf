# No provider on purpose: this module is the deployment's logic (names, the role table,
# input checks), and without a provider `terraform init`, `validate` and `test` run it
# offline for real (tests/terraform).
terraform {
  required_version = ">= 1.9"
}

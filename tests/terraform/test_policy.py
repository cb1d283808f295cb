"""Policies over terraform/, on the HCL as python-hcl2 parses it and on the role table as
Terraform evaluates it for each environment: no primitive or admin role on Caravan's
accounts, nothing public, no secret value in code. Each check also runs on a small bad
configuration, to show it finds what it looks for."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest
from tf_support import TERRAFORM_DIR

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
IAM_MEMBER_TYPES = {
    "google_project_iam_member",
    "google_storage_bucket_iam_member",
    "google_bigquery_dataset_iam_member",
    "google_secret_manager_secret_iam_member",
    "google_service_account_iam_member",
}
ACL_TYPES = {
    "google_storage_bucket_acl",
    "google_storage_default_object_acl",
    "google_storage_object_acl",
    "google_storage_bucket_access_control",
    "google_storage_default_object_access_control",
    "google_storage_object_access_control",
}
# Attribute names that hold a credential: a literal value for one is a secret in code.
SECRET_ATTRIBUTE = re.compile(
    r"^(.*_)?(password|passwd|secret|secret_data|secret_key|client_secret|token|access_token|"
    r"private_key|private_key_passphrase|api_key|apikey|access_key|credentials?)$",
    re.IGNORECASE,
)
# What keys and passwords look like, wherever they stand.
SECRET_TEXT = {
    "a PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a service account key file": re.compile(r"\"private_key(_id)?\"\s*:"),
    "a Google API key": re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    "an AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "an OpenAI key": re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "a Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "a password in a URL": re.compile(r"[a-z][a-z0-9+.\-]*://[^\s/:@\"']+:[^\s/@\"'$]+@"),
}


# --- the HCL, parsed -------------------------------------------------------------------------


def literal(value: object) -> str | None:
    """A quoted HCL string without its quotes; None for an expression or a template."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        text = value[1:-1]
        return None if "${" in text else text
    return None


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def parse(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle)


def config_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in (".tf", ".tfvars") and p.is_file())


def resources(directory: Path) -> list[tuple[str, str, dict, Path]]:
    """(type, name, body, file) of every resource in every module under directory."""
    found = []
    for path in config_files(directory):
        if path.suffix != ".tf":
            continue
        for block in parse(path).get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found.append((unquote(rtype), unquote(name), body, path))
    return found


def attributes(node: object, path: str = ""):
    """Every (dotted path, key, value) of a parsed file, blocks and lists walked through."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("__"):
                continue
            name = unquote(key)
            yield f"{path}.{name}" if path else name, name, value
            yield from attributes(value, f"{path}.{name}" if path else name)
    elif isinstance(node, list):
        for item in node:
            yield from attributes(item, path)


# --- the checks: each returns what it found wrong, empty when all is well -------------------


def bad_role(role: str) -> str | None:
    if role in PRIMITIVE_ROLES:
        return "a primitive role"
    # roles/<service>.<name>: admin roles (storage.admin, iam.securityAdmin,
    # resourcemanager.projectIamAdmin, ...) all say so in their name.
    if "admin" in role.removeprefix("roles/").lower():
        return "an admin role"
    return None


def role_table_violations(rows: list[dict]) -> list[str]:
    found = []
    for row in rows:
        if problem := bad_role(row["role"]):
            found.append(f"{row['member']} gets {problem}: {row['role']} on {row['target']}")
        if row["member"] in PUBLIC_MEMBERS:
            found.append(f"{row['role']} on {row['target']} is granted to {row['member']}")
    return found


def iam_violations(directory: Path) -> list[str]:
    """IAM grants: non-authoritative members only, roles from the role table (for_each over
    local.bindings_by_scope) or literal roles that pass, no public member."""
    found = []
    for path in config_files(directory):
        for where, key, value in attributes(parse(path)):
            text = literal(value)
            if key == "role" and text is not None and (problem := bad_role(text)):
                found.append(f"{path.name}: {where} is {problem}: {text}")
            if isinstance(value, str) and re.search(r"\broles/[A-Za-z.]+", value):
                for role in re.findall(r"\broles/[A-Za-z.]+", value):
                    if problem := bad_role(role):
                        found.append(f"{path.name}: {where} names {problem}: {role}")
            if key in ("member", "members", "role_entity", "dbt_impersonators"):
                for member in value if isinstance(value, list) else [value]:
                    if isinstance(member, str) and any(p in member for p in PUBLIC_MEMBERS):
                        found.append(f"{path.name}: {where} grants to {unquote(member)}")
    for rtype, name, body, path in resources(directory):
        if rtype.startswith("google_") and (
            rtype.endswith("_iam_binding") or rtype.endswith("_iam_policy")
        ):
            found.append(f"{path.name}: {rtype}.{name} is authoritative (use *_iam_member)")
        if rtype in IAM_MEMBER_TYPES:
            role = body.get("role")
            for_each = body.get("for_each", "")
            from_table = role == "${each.value.role}" and str(for_each).startswith(
                "${local.bindings_by_scope."
            )
            from_literal_set = role == "${each.value}" and "toset([" in str(for_each)
            if not (from_table or from_literal_set or literal(role) is not None):
                found.append(
                    f"{path.name}: {rtype}.{name} takes its role from {role}, not the role table"
                )
    return found


def public_violations(directory: Path) -> list[str]:
    found = []
    for rtype, name, body, path in resources(directory):
        where = f"{path.name}: {rtype}.{name}"
        if rtype in ACL_TYPES:
            found.append(f"{where}: ACLs bypass uniform bucket-level access")
        if rtype == "google_storage_bucket":
            if literal(body.get("public_access_prevention")) != "enforced":
                found.append(f"{where}: public access prevention is not enforced")
            if body.get("uniform_bucket_level_access") is not True:
                found.append(f"{where}: no uniform bucket-level access")
        if rtype == "google_bigquery_dataset" and "access" in body:
            found.append(f"{where}: access blocks (grants go through the role table)")
        if rtype == "google_dataproc_cluster":
            configs = [
                c for cc in body.get("cluster_config", []) for c in cc.get("gce_cluster_config", [])
            ]
            if not configs or any(c.get("internal_ip_only") is not True for c in configs):
                found.append(f"{where}: nodes with external addresses")
        if rtype == "google_compute_firewall" and '"0.0.0.0/0"' in str(body.get("source_ranges")):
            found.append(f"{where}: open to the internet")
    return found


def secret_violations(directory: Path) -> list[str]:
    found = []
    for rtype, name, body, path in resources(directory):
        if rtype == "google_secret_manager_secret_version" and (
            "secret_data" in body or "secret_data_wo" in body
        ):
            found.append(f"{path.name}: {rtype}.{name} puts a secret's value in code and state")
    for path in config_files(directory):
        for where, key, value in attributes(parse(path)):
            text = literal(value)
            if SECRET_ATTRIBUTE.match(key) and text:
                found.append(f"{path.name}: {where} is a literal credential")
        for line_number, line in enumerate(path.read_text().splitlines(), 1):
            for what, pattern in SECRET_TEXT.items():
                if pattern.search(line):
                    found.append(f"{path.name}:{line_number}: looks like {what}")
    return found


# --- on Caravan's terraform/ ----------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_role_table_has_no_primitive_admin_or_public_grant(naming_outputs, env):
    rows = naming_outputs[env]["role_table"]
    assert role_table_violations(rows) == []
    # The accounts' roles, worked out by hand from the tfvars (dev: no Composer; both: dbt
    # inside Airflow).
    airflow_roles = {row["role"] for row in rows if row["grantee"] == "airflow"}
    expected = {
        "roles/storage.objectUser",
        "roles/bigquery.jobUser",
        "roles/dataproc.serverlessEditor",
        "roles/iam.serviceAccountUser",
        "roles/bigquery.dataEditor",
        "roles/secretmanager.secretAccessor",
    } | ({"roles/composer.worker"} if env == "prod" else set())
    assert airflow_roles == expected
    assert {row["role"] for row in rows if row["grantee"] == "spark"} == {
        "roles/dataproc.worker",
        "roles/storage.objectUser",
    }
    assert {row["role"] for row in rows if row["grantee"] == "dbt"} == {
        "roles/bigquery.jobUser",
        "roles/bigquery.dataEditor",
        "roles/bigquery.dataViewer",
    }
    # Only BigQuery jobs, Dataproc and Composer are granted on the whole project.
    project_roles = sorted(f"{r['grantee']} {r['role']}" for r in rows if r["scope"] == "project")
    assert project_roles == sorted(
        [
            "airflow roles/bigquery.jobUser",
            "airflow roles/dataproc.serverlessEditor",
            "spark roles/dataproc.worker",
            "dbt roles/bigquery.jobUser",
        ]
        + (["airflow roles/composer.worker"] if env == "prod" else [])
    )


def test_iam_grants_come_from_the_role_table():
    assert iam_violations(TERRAFORM_DIR) == []


def test_nothing_public():
    assert public_violations(TERRAFORM_DIR) == []


def test_no_secret_value_in_code():
    assert secret_violations(TERRAFORM_DIR) == []


def test_tfvars_name_no_public_member():
    for path in (TERRAFORM_DIR / "envs").glob("*.tfvars"):
        text = path.read_text()
        assert not any(member in text for member in PUBLIC_MEMBERS), path


# --- the same checks on a bad configuration --------------------------------------------------

BAD_CONFIG = """
resource "google_project_iam_member" "runner" {
  project = "acme"
  role    = "roles/editor"
  member  = "serviceAccount:caravan-dev-airflow@acme.iam.gserviceaccount.com"
}

resource "google_storage_bucket_iam_member" "reader" {
  bucket = "lake"
  role   = "roles/storage.admin"
  member = "allUsers"
}

resource "google_bigquery_dataset_iam_binding" "marts" {
  dataset_id = "marts"
  role       = "roles/bigquery.dataViewer"
  members    = ["allAuthenticatedUsers"]
}

resource "google_storage_bucket" "lake" {
  name                        = "lake"
  uniform_bucket_level_access = false
}

resource "google_storage_object_acl" "open" {
  bucket      = "lake"
  object      = "raw/x"
  role_entity = ["READER:allUsers"]
}

resource "google_secret_manager_secret_version" "crm" {
  secret      = "crm"
  secret_data = "hunter2"
}

resource "google_sql_user" "caravan" {
  name     = "caravan"
  password = "correct-horse-battery"
}

locals {
  shop_url = "postgresql://caravan:s3cret@db.internal/shop"
}
"""


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(BAD_CONFIG)
    (tmp_path / "prod.tfvars").write_text('openai_api_key = "sk-' + "a1" * 12 + '"\n')
    return tmp_path


def test_checks_find_what_a_bad_configuration_does(bad_dir):
    iam = iam_violations(bad_dir)
    assert (
        "main.tf: resource.google_project_iam_member.runner.role is a primitive role: roles/editor"
        in iam
    )
    reader = "main.tf: resource.google_storage_bucket_iam_member.reader"
    assert f"{reader}.role is an admin role: roles/storage.admin" in iam
    assert f"{reader}.member grants to allUsers" in iam
    assert any("google_bigquery_dataset_iam_binding.marts is authoritative" in v for v in iam)
    assert any("members grants to allAuthenticatedUsers" in v for v in iam)

    public = public_violations(bad_dir)
    assert public == [
        "main.tf: google_storage_bucket.lake: public access prevention is not enforced",
        "main.tf: google_storage_bucket.lake: no uniform bucket-level access",
        "main.tf: google_storage_object_acl.open: ACLs bypass uniform bucket-level access",
    ]

    secrets = secret_violations(bad_dir)
    assert (
        "main.tf: google_secret_manager_secret_version.crm puts a secret's value in code and state"
        in secrets
    )
    version = "main.tf: resource.google_secret_manager_secret_version.crm"
    assert f"{version}.secret_data is a literal credential" in secrets
    assert "main.tf: resource.google_sql_user.caravan.password is a literal credential" in secrets
    assert any(
        v.startswith("main.tf:") and v.endswith("looks like a password in a URL") for v in secrets
    )
    assert "prod.tfvars: openai_api_key is a literal credential" in secrets
    assert "prod.tfvars:1: looks like an OpenAI key" in secrets


def test_role_table_check_finds_a_primitive_role():
    rows = [
        {
            "member": "serviceAccount:x@p.iam.gserviceaccount.com",
            "role": "roles/owner",
            "target": "p",
        }
    ]
    assert role_table_violations(rows) == [
        "serviceAccount:x@p.iam.gserviceaccount.com gets a primitive role: roles/owner on p"
    ]

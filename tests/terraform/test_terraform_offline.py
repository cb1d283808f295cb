"""Terraform itself, offline: formatting of everything under terraform/, and the naming
module (no provider) initialised, validated and tested for real. The root module needs the
Google and Snowflake providers, which cannot be downloaded here: its references are checked
against the declarations instead (a typo there would otherwise wait for a networked plan)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tf_support import NAMING_DIR, ROOT, TERRAFORM_DIR, run


def terraform_files_in_repo() -> set[str]:
    """Files Terraform writes in a working directory, wherever they are under terraform/."""
    names = {".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.d"}
    return {str(path.relative_to(ROOT)) for path in TERRAFORM_DIR.rglob("*") if path.name in names}


def test_fmt_check_recursive(terraform_bin, tf_env):
    done = run(
        [terraform_bin, "fmt", "-check", "-recursive", "-no-color", "terraform/"], ROOT, tf_env
    )
    assert done.returncode == 0, f"terraform fmt would change:\n{done.stdout}{done.stderr}"


def test_naming_module_init_validate_and_test(terraform_bin, tf_env):
    before = terraform_files_in_repo()
    for args in (["init", "-backend=false"], ["validate"], ["test"]):
        done = run([terraform_bin, *args, "-no-color"], NAMING_DIR, tf_env)
        assert done.returncode == 0, f"terraform {args[0]}:\n{done.stdout}{done.stderr}"
    # 3 files of tests, 23 runs: none skipped or lost.
    assert re.search(r"^Success! 23 passed, 0 failed\.$", done.stdout, re.MULTILINE), done.stdout
    # Everything Terraform wrote went to the temporary TF_DATA_DIR.
    assert terraform_files_in_repo() == before


def test_terraform_test_fails_on_a_wrong_expectation(terraform_bin, tf_env, tmp_path):
    """The module's tests can fail: a copy whose test expects another bucket name does."""
    copy = tmp_path / "naming"
    subprocess.run(["cp", "-r", str(NAMING_DIR), str(copy)], check=True)
    names = copy / "tests" / "names.tftest.hcl"
    names.write_text(
        names.read_text().replace('"caravan-dev-lake-acme-data-dev"', '"caravan-dev-lake"')
    )
    assert run([terraform_bin, "init", "-backend=false", "-no-color"], copy, tf_env).returncode == 0
    done = run([terraform_bin, "test", "-no-color", "-filter=tests/names.tftest.hcl"], copy, tf_env)
    assert done.returncode == 1
    assert 'run "dev_names_from_prefix_env_and_project"... fail' in done.stdout


def declared(pattern: str, text: str) -> set[str]:
    return set(re.findall(pattern, text, re.MULTILINE))


def without_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*#.*$|\s#(?!checkov).*$", "", text)


def module_sources(directory: Path) -> str:
    return "\n".join(without_comments(path.read_text()) for path in sorted(directory.glob("*.tf")))


def test_root_and_snowflake_module_references_resolve():
    """Every var., local. and module.naming. the root uses is declared, and so in the
    Snowflake module: what `terraform validate` would say first, were the providers here."""
    naming_outputs = declared(r'^output "(\w+)"', module_sources(NAMING_DIR))
    for directory in (TERRAFORM_DIR, TERRAFORM_DIR / "modules" / "snowflake"):
        text = module_sources(directory)
        variables = declared(r'^variable "(\w+)"', text)
        locals_ = declared(
            r"^  (\w+)\s+=", "\n".join(re.findall(r"(?ms)^locals \{\n(.*?)^\}", text))
        )
        used_variables = set(re.findall(r"\bvar\.(\w+)", text))
        used_locals = set(re.findall(r"\blocal\.(\w+)", text))
        assert used_variables <= variables, f"{directory}: undeclared {used_variables - variables}"
        assert used_locals <= locals_, f"{directory}: undeclared {used_locals - locals_}"
        unused = variables - used_variables
        assert not unused, f"{directory}: variables nothing uses: {unused}"
    root = module_sources(TERRAFORM_DIR)
    used_outputs = set(re.findall(r"\bmodule\.naming\.(\w+)", root))
    assert used_outputs <= naming_outputs, f"not outputs of naming: {used_outputs - naming_outputs}"
    # The root passes the naming module exactly the variables it declares.
    naming_variables = declared(r'^variable "(\w+)"', module_sources(NAMING_DIR))
    call = re.search(r'(?ms)^module "naming" \{\n(.*?)^\}', root).group(1)
    passed = declared(r"^  (\w+)\s+=", call) - {"source"}
    assert passed == naming_variables

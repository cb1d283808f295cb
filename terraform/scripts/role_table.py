"""docs/deploy.md's role table, rendered from the naming module's role table.

Terraform itself evaluates the table: the naming module has no provider, so `terraform plan`
runs offline and `terraform show -json` gives its outputs. The table is rendered for
envs/prod.tfvars. Nothing is written into the repository but the doc (Terraform's working
files go to a temporary TF_DATA_DIR).

    .venv/bin/python terraform/scripts/role_table.py           # rewrite docs/deploy.md's table
    .venv/bin/python terraform/scripts/role_table.py --check   # exit 1 if it differs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMING = ROOT / "terraform" / "modules" / "naming"
DOC = ROOT / "docs" / "deploy.md"
VAR_FILE = ROOT / "terraform" / "envs" / "prod.tfvars"
START = "<!-- role-table:start (terraform/scripts/role_table.py writes this table) -->"
END = "<!-- role-table:end -->"

SCOPES = {
    "project": "the project",
    "bucket": "bucket `{}`",
    "dataset": "dataset `{}`",
    "secret": "secret `{}`",
    "service_account": "service account `{}`",
}


def terraform_env(workdir: Path) -> dict[str, str]:
    """Terraform's environment with every file it writes under `workdir`, and no network
    call of its own (CHECKPOINT_DISABLE: no version check)."""
    cli_config = workdir / "terraformrc"
    cli_config.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_CACHE_DIR"}
    env.update(
        TF_DATA_DIR=str(workdir / "data"),
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return env


def terraform(args: list[str], module: Path, env: dict[str, str]) -> str:
    """Run `terraform -chdir=<module> <args>`; its error output in the exception if it fails."""
    done = subprocess.run(
        ["terraform", f"-chdir={module}", *args, "-no-color"],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"terraform {' '.join(args)} in {module}:\n{done.stdout}{done.stderr}")
    return done.stdout


def naming_outputs(var_file: Path) -> dict[str, object]:
    """The naming module's outputs for a tfvars file, as Terraform plans them."""
    with tempfile.TemporaryDirectory(prefix="caravan-tf-") as tmp:
        workdir = Path(tmp)
        env = terraform_env(workdir)
        terraform(["init", "-backend=false"], NAMING, env)
        plan = workdir / "naming.tfplan"
        terraform(["plan", f"-var-file={var_file}", f"-out={plan}"], NAMING, env)
        shown = json.loads(terraform(["show", "-json", str(plan)], NAMING, env))
    return {name: output["value"] for name, output in shown["planned_values"]["outputs"].items()}


def render(rows: list[dict[str, str]]) -> str:
    """The role table as Markdown, in the module's order."""
    lines = ["| account | role | on | why |", "|---|---|---|---|"]
    for row in rows:
        where = SCOPES[row["scope"]].format(row["target"])
        lines.append(f"| {row['grantee']} | `{row['role']}` | {where} | {row['reason']} |")
    return "\n".join(lines)


def with_table(doc: str, table: str) -> str:
    """`doc` with the text between the markers replaced by `table`."""
    if START not in doc or END not in doc:
        raise ValueError(f"{DOC}: the role table's markers are missing ({START} … {END})")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc differs")
    args = parser.parse_args(argv)
    table = render(naming_outputs(VAR_FILE)["role_table"])  # type: ignore[arg-type]
    doc = DOC.read_text()
    updated = with_table(doc, table)
    if args.check:
        if updated != doc:
            script = Path(__file__).relative_to(ROOT)
            print(f"{DOC.relative_to(ROOT)}: the role table is stale; run {script}")
            return 1
        return 0
    DOC.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())

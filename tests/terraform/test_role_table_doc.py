"""docs/deploy.md's role table is the naming module's, as Terraform evaluates it for
envs/prod.tfvars; the doc says how to regenerate it."""

from __future__ import annotations

from tf_support import ROOT

REGENERATE = ".venv/bin/python terraform/scripts/role_table.py"


def test_doc_table_is_the_naming_modules(naming_outputs, role_table_script):
    doc = (ROOT / "docs" / "deploy.md").read_text()
    table = role_table_script.render(naming_outputs["prod"]["role_table"])
    assert role_table_script.with_table(doc, table) == doc, f"stale: run {REGENERATE}"
    assert REGENERATE in doc
    assert doc.count("\n| airflow |") == len(
        [row for row in naming_outputs["prod"]["role_table"] if row["grantee"] == "airflow"]
    )


def test_render_and_replace(role_table_script):
    rows = [
        {
            "grantee": "spark",
            "role": "roles/dataproc.worker",
            "scope": "project",
            "target": "p",
            "reason": "runs batches",
        },
        {
            "grantee": "dbt",
            "role": "roles/bigquery.dataViewer",
            "scope": "dataset",
            "target": "landing",
            "reason": "reads its sources",
        },
    ]
    table = role_table_script.render(rows)
    assert table == (
        "| account | role | on | why |\n"
        "|---|---|---|---|\n"
        "| spark | `roles/dataproc.worker` | the project | runs batches |\n"
        "| dbt | `roles/bigquery.dataViewer` | dataset `landing` | reads its sources |"
    )
    start, end = role_table_script.START, role_table_script.END
    doc = f"# Title\n\n{start}\nold rows\n{end}\n\nafter\n"
    assert role_table_script.with_table(doc, "NEW") == f"# Title\n\n{start}\nNEW\n{end}\n\nafter\n"

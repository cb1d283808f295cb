"""docs/adding-a-source.md, steps 1 to 3 run as written on a fresh home: its YAML entry
and CSV file, through the `caravan run` command it shows, give the lake it describes
(tests/e2e/test_chain.py runs the page to its last step on the demo chain's warehouse)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "adding-a-source.md"
DS = "2026-11-01"


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text()


@pytest.fixture(scope="module")
def ran(page, tmp_path_factory) -> Path:
    """A copy of dags/ with the page's entry appended, its CSV dropped, its command run."""
    root = tmp_path_factory.mktemp("docs_example")
    dags = root / "project" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO / "dags" / "ingest.py", dags)
    registry = (REPO / "dags" / "sources.yaml").read_text() + "\n" + fenced(page, "yaml")[0]
    (dags / "sources.yaml").write_text(registry)
    landing = root / "landing"
    landing.mkdir()
    (landing / f"conversions_{DS}.csv").write_text(fenced(page, "csv")[0])

    [command] = [
        line
        for block in fenced(page, "bash")
        for line in block.splitlines()
        if "caravan run" in line and "ingest_affiliate_network" in line
    ]
    args = command.split()[1:]  # `.venv/bin/caravan` is the venv's console script
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.pop("AIRFLOW_HOME", None)
    env.update(
        CARAVAN_HOME=str(root / "home"),
        CARAVAN_PROJECT_DIR=str(root / "project"),
        AIRFLOW_CONN_AFFILIATE_NETWORK_DEFAULT=json.dumps(
            {"conn_type": "fs", "extra": {"path": str(landing)}}
        ),
    )
    caravan = Path(sys.executable).with_name("caravan")
    result = subprocess.run(
        [str(caravan), *args], env=env, capture_output=True, text=True, timeout=600
    )
    log = root / "home" / "logs" / "run.log"
    assert result.returncode == 0, (
        result.stdout + result.stderr + (log.read_text()[-10000:] if log.exists() else "")
    )
    assert "ingest_affiliate_network ok" in " ".join(result.stdout.split())
    return root / "home" / "lake"


def read_partition(folder: Path) -> tuple[dict, list]:
    manifest = json.loads((folder / "_manifest.json").read_text())
    records = [
        json.loads(line)
        for entry in manifest["files"]
        for line in gzip.decompress((folder / entry["path"]).read_bytes()).splitlines()
    ]
    return manifest, records


def test_the_three_good_rows_are_published_as_the_page_says(ran):
    manifest, records = read_partition(ran / "raw/affiliate_network/conversions" / f"ds={DS}")
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (5, 3, 2)
    assert [r["conversion_id"] for r in records] == ["AFF-1001", "AFF-1002", "AFF-1005"]
    assert records[1] == {  # as delivered
        "conversion_id": "AFF-1002",
        "partner_id": "P-03",
        "order_id": "2026110100007",
        "commission": "12.00",
        "currency": "USD",
        "converted_at": "2026-11-01 09:42:13",
    }
    # What each field was declared, and how it came.
    assert manifest["schema"]["commission"] == "decimal(12,2) as string"
    assert manifest["schema"]["converted_at"] == "timestamp (%Y-%m-%d %H:%M:%S) as string"
    assert manifest["schema"]["partner_id"] == "string"


def test_the_typed_copy_holds_the_declared_types(ran):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = ran / "curated/affiliate_network/conversions" / f"ds={DS}"
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert (manifest["rows"], manifest["producer"]) == (3, "caravan.landing")
    table = pq.read_table(folder / "part-00000.parquet")
    assert table.schema.field("commission").type == pa.decimal128(12, 2)
    assert table.schema.field("converted_at").type == pa.timestamp("us", tz="UTC")
    assert [str(v) for v in table.column("commission").to_pylist()] == ["4.25", "12.00", "7.80"]
    assert table.column("converted_at")[1].as_py().isoformat() == "2026-11-01T09:42:13+00:00"


def test_the_two_bad_rows_are_in_quarantine_with_the_reasons_the_page_shows(ran, page):
    _, rejected = read_partition(ran / "quarantine/affiliate_network/conversions" / f"ds={DS}")
    found = [(r["reason"], r["origin"]) for r in rejected]
    assert found == [
        (
            "field 'commission' is 'not-a-number', not a decimal(12,2)",
            f"conversions_{DS}.csv line 4",
        ),
        ("row has 5 cells, the header has 6", f"conversions_{DS}.csv line 5"),
    ]
    assert rejected[1]["record"] == ["AFF-1004", "P-21", "2026110100019", "3.10", "USD"]
    for reason, origin in found:
        assert reason in page and origin in page

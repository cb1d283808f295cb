"""The docs' chunks: hand-written markdown and dbt YAML, with the chunks worked out by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from caravan.assistant.doc_chunks import (
    MAX_CHUNK_CHARS,
    chunk_markdown,
    dbt_descriptions,
    export_docs,
)

GUIDE = """\
Intro line before any heading.

# Adding a source

Write an entry.

## Types and formats

Dates are ISO.

```yaml
# not a heading: a YAML comment
types: {x: date}

more: yes
```

## `caravan ask` & friends

Ask things.

## Types and formats

Again.

### Empty

## Links: [the guide](other.md)!

See it.
"""


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def test_sections_by_heading_with_githubs_anchors_and_code_blocks_whole():
    chunks = chunk_markdown("docs/adding-a-source.md", GUIDE)
    assert [(c["anchor"], c["heading"]) for c in chunks] == [
        ("", ""),
        ("adding-a-source", "Adding a source"),
        ("types-and-formats", "Types and formats"),
        ("caravan-ask--friends", "`caravan ask` & friends"),
        ("types-and-formats-1", "Types and formats"),
        ("links-the-guide", "Links: [the guide](other.md)!"),
    ]
    assert chunks[0]["text"] == "Intro line before any heading."
    assert chunks[2]["text"] == (
        "## Types and formats\n\nDates are ISO.\n\n```yaml\n# not a heading: a YAML comment\n"
        "types: {x: date}\n\nmore: yes\n```"
    )
    assert {c["doc_kind"] for c in chunks} == {"doc"}
    assert {c["path"] for c in chunks} == {"docs/adding-a-source.md"}
    assert chunks[2]["chunk_id"] == sha("docs/adding-a-source.md#types-and-formats")
    assert len({c["chunk_id"] for c in chunks}) == len(chunks)


def test_a_readme_is_of_kind_readme():
    (chunk,) = chunk_markdown("README.md", "# Caravan\n\nBatch ELT.\n")
    assert chunk["doc_kind"] == "readme"
    assert chunk["text"] == "# Caravan\n\nBatch ELT."


def test_a_long_section_is_cut_on_paragraph_boundaries_and_a_long_code_block_never():
    paragraph = "word " * 80  # 399 characters once stripped; 402 with "Pn "
    paragraphs = [f"P{n} {paragraph.strip()}" for n in range(6)]
    code = "```\n" + "x = 1\n" * 300 + "```"  # 1,807 characters: over the limit, kept whole
    text = "## Big\n\n" + "\n\n".join(paragraphs[:3]) + "\n\n" + code + "\n\n" + paragraphs[3]
    chunks = chunk_markdown("docs/big.md", text)
    # Parts of at most 1,500 characters: the heading and 3 paragraphs (6 + 3 x 402 + 3 x 2
    # = 1,218) fill the first, the code block alone is the second, the last paragraph the third.
    assert [c["text"] for c in chunks] == [
        "## Big\n\n" + "\n\n".join(paragraphs[:3]),
        code,
        paragraphs[3],
    ]
    assert [c["anchor"] for c in chunks] == ["big", "big", "big"]
    assert [c["chunk_id"] for c in chunks] == [
        sha("docs/big.md#big"),
        sha("docs/big.md#big:2"),
        sha("docs/big.md#big:3"),
    ]
    assert MAX_CHUNK_CHARS == 1_500


def write_dbt(root: Path) -> Path:
    project = root / "dbt_project"
    models = project / "models" / "marts" / "sales"
    models.mkdir(parents=True)
    (models / "_sales__models.yml").write_text(
        """\
version: 2
models:
  - name: fct_orders
    description: One row per order.
    columns:
      - name: order_id
        description: The shop's order id.
      - name: net_revenue
        description: >
          Gross revenue less
          discounts.
  - name: dim_products
    description: The catalogue.
"""
    )
    (project / "models" / "semantic.yml").write_text(
        "semantic_models:\n  - name: orders\n    description: not a model\n"
    )
    return project


def test_dbt_descriptions_give_one_chunk_per_model_with_its_columns(tmp_path):
    chunks = dbt_descriptions(write_dbt(tmp_path))
    path = "dbt_project/models/marts/sales/_sales__models.yml"
    assert chunks == [
        {
            "chunk_id": sha(f"{path}#fct_orders"),
            "path": path,
            "anchor": "fct_orders",
            "heading": "fct_orders",
            "doc_kind": "dbt_model",
            "text": "fct_orders: One row per order.\n\nColumns:\n"
            "- order_id: The shop's order id.\n- net_revenue: Gross revenue less discounts.",
        },
        {
            "chunk_id": sha(f"{path}#dim_products"),
            "path": path,
            "anchor": "dim_products",
            "heading": "dim_products",
            "doc_kind": "dbt_model",
            "text": "dim_products: The catalogue.",
        },
    ]


def test_export_writes_docs_readme_and_models_as_json_lines(tmp_path):
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "b.md").write_text("# B\n\nbee\n")
    (root / "docs" / "a.md").write_text("# A\n\nay\n\n## A2\n\nmore\n")
    (root / "README.md").write_text("# Readme\n\nhello\n")
    write_dbt(root)
    out = tmp_path / "landing" / "docs_2026-11-01.jsonl"
    assert export_docs(root, out) == 6
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["path"], r["anchor"], r["doc_kind"]) for r in records] == [
        ("docs/a.md", "a", "doc"),
        ("docs/a.md", "a2", "doc"),
        ("docs/b.md", "b", "doc"),
        ("README.md", "readme", "readme"),
        ("dbt_project/models/marts/sales/_sales__models.yml", "fct_orders", "dbt_model"),
        ("dbt_project/models/marts/sales/_sales__models.yml", "dim_products", "dbt_model"),
    ]
    assert export_docs(root, out) == 6  # the same again, replacing the file
    assert list(out.parent.iterdir()) == [out]


def test_the_projects_own_docs_cite_adding_a_source():
    repo = Path(__file__).resolve().parents[3]
    text = (repo / "docs" / "adding-a-source.md").read_text()
    anchors = {c["anchor"] for c in chunk_markdown("docs/adding-a-source.md", text)}
    # docs/adding-a-source.md links here from sources.yaml's header.
    assert "types-and-formats" in anchors

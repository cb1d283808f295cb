"""The project's documentation as retrievable chunks: the `docs` file-drop source's export.

Markdown files are split into sections by heading, each addressed by GitHub's anchor
slug so an answer can cite `docs/adding-a-source.md#types-and-formats`; fenced code
blocks stay whole, and a long section is cut on paragraph boundaries near
`MAX_CHUNK_CHARS`. The dbt models' descriptions (and their columns') come from the
models' YAML, read as text: no dbt run. Everything here is pure but `export_docs`,
which writes the JSON lines the simulator drops as `docs_<ds>.jsonl` (in production,
the docs repository's CI would).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

MAX_CHUNK_CHARS = 1_500
DOC_KINDS = ("doc", "readme", "dbt_model")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def chunk_id(path: str, anchor: str, part: int = 1) -> str:
    """Stable id of a chunk: a hash of its path and anchor (and part, after the first)."""
    key = f"{path}#{anchor}" if part == 1 else f"{path}#{anchor}:{part}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def heading_slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped (letters,
    digits, `_`, `-` and spaces kept), each space a `-` (`A & B` → `a--b`)."""
    text = _LINK.sub(r"\1", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _fence_after(fence: str | None, line: str) -> str | None:
    """The open code fence after `line` (None outside one): a fence closes with a line of
    its own character, at least as long, and nothing after it."""
    marker = _FENCE.match(line)
    if marker is None:
        return fence
    if fence is None:
        return marker[1]
    closes = marker[1][0] == fence[0] and len(marker[1]) >= len(fence)
    return None if closes and not line.strip()[len(marker[1]) :].strip() else fence


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, lines) per section, the text before the first heading under heading ""; a
    `#` line inside a fenced code block is code, not a heading."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    fence: str | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line) if fence is None else None
        if heading:
            sections.append((heading[2].strip(), [line]))
            continue
        fence = _fence_after(fence, line)
        sections[-1][1].append(line)
    return sections


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs (split on blank lines), a fenced code block always one block."""
    blocks: list[str] = []
    current: list[str] = []
    fence: str | None = None
    for line in lines:
        fence = _fence_after(fence, line)
        if fence is None and not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _parts(blocks: list[str], limit: int) -> list[str]:
    """Blocks packed greedily into parts of at most `limit` characters; a block longer
    than that is a part of its own, never cut."""
    parts: list[str] = []
    for block in blocks:
        if parts and len(parts[-1]) + 2 + len(block) <= limit:
            parts[-1] = f"{parts[-1]}\n\n{block}"
        else:
            parts.append(block)
    return parts


def _record(path: str, anchor: str, heading: str, kind: str, text: str, part: int) -> dict:
    return {
        "chunk_id": chunk_id(path, anchor, part),
        "path": path,
        "anchor": anchor,
        "heading": heading,
        "doc_kind": kind,
        "text": text,
    }


def chunk_markdown(path: str, text: str, doc_kind: str | None = None) -> list[dict[str, Any]]:
    """A markdown file's chunks: one per section with text (long ones in parts), in file
    order. `path` is repo-relative; `README.md` is a `readme`, anything else a `doc`."""
    kind = doc_kind or ("readme" if Path(path).name.lower() == "readme.md" else "doc")
    seen: dict[str, int] = {}
    chunks = []
    for heading, lines in _sections(text):
        slug = heading_slug(heading) if heading else ""
        if heading:  # GitHub numbers repeated anchors: x, x-1, x-2
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slug = slug if count == 0 else f"{slug}-{count}"
        body = lines[1:] if heading else lines
        if not "\n".join(body).strip():
            continue
        for n, part in enumerate(_parts(_blocks(lines), MAX_CHUNK_CHARS), start=1):
            chunks.append(_record(path, slug, heading, kind, part, n))
    return chunks


def _model_text(model: dict) -> str:
    lines = [f"{model['name']}: {str(model.get('description') or '').strip()}".rstrip(": ")]
    columns = [c for c in model.get("columns") or [] if isinstance(c, dict) and c.get("name")]
    if columns:
        lines += ["", "Columns:"]
        lines += [
            f"- {c['name']}: {' '.join(str(c.get('description') or '').split())}".rstrip(": ")
            for c in columns
        ]
    return "\n".join(lines)


def dbt_descriptions(dbt_project_dir: Path) -> list[dict[str, Any]]:
    """One chunk per dbt model: its description and its columns' descriptions, from the
    YAML files under `models/` (path relative to the project's parent, anchor the model)."""
    root = Path(dbt_project_dir)
    chunks = []
    for yml in sorted([*root.glob("models/**/*.yml"), *root.glob("models/**/*.yaml")]):
        try:
            document = yaml.safe_load(yml.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{yml}: not valid YAML: {error}") from None
        if not isinstance(document, dict):
            continue
        path = f"{root.name}/{yml.relative_to(root).as_posix()}"
        for model in document.get("models") or []:
            if isinstance(model, dict) and model.get("name"):
                name = str(model["name"])
                chunks.append(_record(path, name, name, "dbt_model", _model_text(model), 1))
    return chunks


def project_chunks(project_dir: Path) -> list[dict[str, Any]]:
    """Every chunk of the project: docs/*.md, README.md, then the dbt models."""
    root = Path(project_dir)
    files = sorted((root / "docs").glob("*.md"))
    if (root / "README.md").exists():
        files.append(root / "README.md")
    chunks = [
        chunk
        for file in files
        for chunk in chunk_markdown(file.relative_to(root).as_posix(), file.read_text("utf-8"))
    ]
    if (root / "dbt_project").is_dir():
        chunks += dbt_descriptions(root / "dbt_project")
    return chunks


def export_docs(project_dir: Path, out_file: Path) -> int:
    """Write the project's chunks as JSON lines to `out_file` (whole or not at all: a
    temporary file renamed); returns how many."""
    chunks = project_chunks(project_dir)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    lines = "".join(json.dumps(chunk, ensure_ascii=False) + "\n" for chunk in chunks)
    temporary.write_text(lines, encoding="utf-8")
    os.replace(temporary, out)
    return len(chunks)

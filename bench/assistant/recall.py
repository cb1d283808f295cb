"""Retrieval recall@5 on doc and issue questions (recall_questions.yaml).

    .venv/bin/python bench/assistant/recall.py [--home .caravan] [--embeddings]

The chunks are the demo's `analytics.mart_knowledge_chunks` when the warehouse at
`--home` has it (read-only); otherwise the same chunks built here from what the chain
would ingest: the project's docs (caravan.assistant.doc_chunks) and the simulator's issue
tracker over the demo week (seed 42, 2026-11-01 .. 2026-11-07). `--embeddings` fuses
dense vectors from the model at OPENAI_BASE_URL (CARAVAN_OPENAI_EMBEDDING_MODEL) with BM25.

A question is found when any of its expected refs is among the top 5 hits (a ref without
`#` matches any section of that file). Prints recall@5 and MRR by kind, and the misses.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = Path(__file__).with_name("recall_questions.yaml")
K = 5
DEMO_DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(7)]


def demo_chunks(home: Path) -> list:
    from caravan.assistant.retrieval import load_chunks

    return load_chunks(home / "warehouse.duckdb")


def built_chunks(project_dir: Path = ROOT, seed: int = 42) -> list:
    """The knowledge chunks as the chain would publish them, built from their sources."""
    from caravan.assistant.doc_chunks import project_chunks
    from caravan.assistant.retrieval import Chunk
    from caravan.simulator.text import tracker_issues
    from caravan.simulator.world import World

    chunks = [
        Chunk(
            chunk_id=record["chunk_id"],
            kind="doc",
            ref=f"{record['path']}#{record['anchor']}" if record["anchor"] else record["path"],
            title=record["heading"] or record["path"],
            body=record["text"],
        )
        for record in project_chunks(project_dir)
    ]
    for issue in tracker_issues(World(seed=seed), DEMO_DAYS):
        ref = f"issue #{issue.number}"
        chunks.append(Chunk(f"issue-{issue.number}", "issue", ref, issue.title, issue.body))
        for comment in issue.comments:
            chunks.append(
                Chunk(f"comment-{comment.comment_id}", "comment", ref, issue.title, comment.body)
            )
    return chunks


def matches(ref: str, expected: str) -> bool:
    return ref == expected if "#" in expected else ref.split("#", 1)[0] == expected


def evaluate(chunks: list, questions: list[dict], embed=None) -> list[dict]:
    """Per question: the rank (1-based) of the first expected ref in the top K, or None."""
    from caravan.assistant.retrieval import search_chunks

    results = []
    for item in questions:
        hits = search_chunks(chunks, item["question"], K, embed)
        rank = next(
            (
                n
                for n, hit in enumerate(hits, start=1)
                if any(matches(hit.ref, expected) for expected in item["expected"])
            ),
            None,
        )
        results.append({**item, "rank": rank, "got": [hit.ref for hit in hits]})
    return results


def report(results: list[dict], source: str) -> str:
    lines = [
        f"Chunks: {source}",
        "",
        "| questions | n | recall@5 | MRR |",
        "|---|---:|---:|---:|",
    ]
    for kind in ("doc", "issue", None):
        group = [r for r in results if kind is None or r["kind"] == kind]
        if not group:
            continue
        found = sum(1 for r in group if r["rank"])
        mrr = sum(1 / r["rank"] for r in group if r["rank"]) / len(group)
        label = "all" if kind is None else kind
        lines.append(f"| {label} | {len(group)} | {found / len(group):.2f} | {mrr:.2f} |")
    for r in results:
        if not r["rank"]:
            lines.append(f"\nmissed: {r['question']!r} (expected {r['expected']}, got {r['got']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".caravan", help="the demo's home")
    parser.add_argument("--embeddings", action="store_true", help="fuse dense vectors too")
    args = parser.parse_args(argv)
    questions = yaml.safe_load(QUESTIONS.read_text())["questions"]
    chunks = demo_chunks(args.home)
    source = f"the demo's analytics.mart_knowledge_chunks ({len(chunks)})"
    if not chunks:
        chunks = built_chunks()
        source = f"built from docs/, README, dbt YAML and the simulator's issues ({len(chunks)})"
    embed = None
    if args.embeddings:
        from caravan.assistant.client import openai_client
        from caravan.assistant.retrieval import EmbeddingCache
        from caravan.settings import get_settings

        settings = get_settings()
        cache = EmbeddingCache(args.home / "assistant" / "embeddings.jsonl")
        embed = cache.embedder(openai_client(settings), settings.openai_embedding_model)
        source += f", BM25 + {settings.openai_embedding_model}"
    print(report(evaluate(chunks, questions, embed), source))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

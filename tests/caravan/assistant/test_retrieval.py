"""Retrieval over hand-made knowledge chunks: the tokenizer, BM25, fusion with dense
vectors from an OpenAI-compatible server (the real client), and the warehouse read.

Which chunk should come first for each question is decided by hand from the chunks'
text: the one a person would open.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import openai
import pytest

from caravan.assistant.retrieval import (
    Chunk,
    EmbeddingCache,
    best_snippet,
    clean_text,
    fuse_rankings,
    load_chunks,
    search,
    search_chunks,
    tokenize,
)
from caravan.settings import Settings
from tests.openai_server import EMBEDDINGS_PATH, OpenAIServer

CHUNKS = [
    Chunk(
        "c1",
        "doc",
        "docs/adding-a-source.md#adding-a-source",
        "Adding a source",
        "Declare the source in dags/sources.yaml with its entities, then run"
        " `caravan dbt-source <name>` to write its dbt source and staging models.",
    ),
    Chunk(
        "c2",
        "doc",
        "docs/adding-a-source.md#types-and-formats",
        "Types and formats",
        "Each field has a type: string, integer, decimal, date or timestamp. Dates in ISO"
        " format are parsed when the raw partition is typed.",
    ),
    Chunk(
        "c3",
        "doc",
        "docs/quality.md#gates",
        "Quality gates",
        "Every stage is gated by a Great Expectations checkpoint; a failed gate stops the"
        " partition and keeps what was published before.",
    ),
    Chunk(
        "c4",
        "doc",
        "README.md#quick-start",
        "Quick start",
        "Run make demo to simulate a week of the demo company and load the warehouse.",
    ),
    Chunk(
        "c5",
        "issue",
        "issue #12",
        "Meta spend missing on 2026-11-03",
        "The meta_ads insights for Nov 3 came back empty and spend dropped to zero in"
        " mart_marketing_roi.",
    ),
    Chunk(
        "c6",
        "comment",
        "issue #12",
        "Re: Meta spend missing on 2026-11-03",
        "Fixed by retrying the cursor page; the day was backfilled with caravan run --range.",
    ),
    Chunk(
        "c7",
        "doc",
        "dbt_project/models/marts/_marts__models.yml#fct_orders",
        "fct_orders",
        "One row per order: order_id, customer_key, order_date, status, gross_revenue,"
        " discount_amount, net_revenue.",
    ),
]


def test_tokenize_splits_identifiers_and_drops_markdown_and_stopwords():
    assert tokenize("How do I run `caravan dbt-source`?") == ["run", "caravan", "dbt", "source"]
    assert tokenize("## Adding Sources") == ["add", "source"]
    assert tokenize("fct_orders.net_revenue") == [
        "fct_orders",
        "fct",
        "order",
        "net_revenue",
        "net",
        "revenue",
    ]
    assert tokenize("utmSource and HTTPServer") == ["utm", "source", "http", "server"]
    assert tokenize("issue #12") == ["issue", "12"]


@pytest.mark.parametrize(
    ("question", "first_ref"),
    [
        ("how do I add a source?", "docs/adding-a-source.md#adding-a-source"),
        ("what does caravan dbt-source do", "docs/adding-a-source.md#adding-a-source"),
        ("which types can a field have", "docs/adding-a-source.md#types-and-formats"),
        ("what happens when a quality gate fails", "docs/quality.md#gates"),
        ("META spend missing", "issue #12"),
        ("was the cursor page retried?", "issue #12"),
        ("columns of fct_orders", "dbt_project/models/marts/_marts__models.yml#fct_orders"),
        ("how do I run the demo", "README.md#quick-start"),
    ],
)
def test_bm25_ranks_the_right_chunk_first(question, first_ref):
    hits = search_chunks(CHUNKS, question, k=3)
    assert hits[0].ref == first_ref


def test_one_hit_per_ref_and_only_chunks_that_share_a_word():
    hits = search_chunks(CHUNKS, "meta spend cursor retried backfilled", k=5)
    # The issue and its comment share a ref: one hit. No other chunk has any of the words.
    assert [hit.ref for hit in hits] == ["issue #12"]
    assert hits[0].kind == "comment"  # the comment holds four of the five words
    assert search_chunks(CHUNKS, "zebra xylophone", k=5) == []


def test_snippets_are_cleaned_of_control_and_invisible_characters():
    planted = "Colours \x1b]0;pwned\x07\x1b[2J broken \u202ereversed\u200b text"
    assert clean_text(planted) == "Colours ]0;pwned [2J broken reversed text"
    assert clean_text("ｃａｒａｖａｎ") == "caravan"  # fullwidth reads as it looks


def test_best_snippet_centres_the_matches():
    body = " ".join(["filler"] * 100) + " the dbt source command " + " ".join(["filler"] * 100)
    snippet = best_snippet(body, {"dbt", "source"}, width=60)
    assert "dbt source" in snippet
    assert snippet.startswith("… filler") and snippet.endswith("filler …")
    assert len(snippet) <= 64


def test_fuse_rankings_by_hand():
    # a: 1/61 + 1/62; b: 1/62 + 1/61; c: 1/63 (k = 60)
    fused = fuse_rankings([["a", "b", "c"], ["b", "a"]])
    assert [item for item, _ in fused] == ["a", "b", "c"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 63)


def write_chunks(path, chunks):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists analytics")
        con.execute(
            "create table analytics.mart_knowledge_chunks (chunk_id varchar, kind varchar,"
            " ref varchar, title varchar, body varchar, updated_at timestamp)"
        )
        for chunk in chunks:
            con.execute(
                "insert into analytics.mart_knowledge_chunks values (?, ?, ?, ?, ?, ?)",
                [chunk.chunk_id, chunk.kind, chunk.ref, chunk.title, chunk.body, chunk.updated_at],
            )


def settings_for(home, **environ) -> Settings:
    return Settings.from_env({"CARAVAN_HOME": str(home), **environ})


def test_search_reads_the_chunks_from_the_warehouse(tmp_path):
    stamped = [Chunk(*chunk.__dict__.values()) for chunk in CHUNKS]
    stamped[0] = Chunk(**{**CHUNKS[0].__dict__, "updated_at": datetime(2026, 11, 7, 12)})
    write_chunks(tmp_path / "warehouse.duckdb", stamped)

    assert load_chunks(tmp_path / "warehouse.duckdb") == sorted(
        stamped, key=lambda chunk: chunk.chunk_id
    )
    hits = search(settings_for(tmp_path), "how do I add a source?", k=2)
    assert [hit.ref for hit in hits] == [
        "docs/adding-a-source.md#adding-a-source",
        "docs/adding-a-source.md#types-and-formats",
    ]


def test_no_warehouse_or_no_table_means_no_hits(tmp_path):
    assert search(settings_for(tmp_path), "add a source") == []
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema analytics")
    assert search(settings_for(tmp_path), "add a source") == []


def test_dense_vectors_join_bm25_when_an_embedding_model_is_set(tmp_path):
    write_chunks(tmp_path / "warehouse.duckdb", CHUNKS)
    with OpenAIServer() as server:
        settings = settings_for(
            tmp_path,
            OPENAI_API_KEY="test",
            OPENAI_BASE_URL=server.base_url,
            CARAVAN_OPENAI_EMBEDDING_MODEL="text-embedding-3-small",
        )
        first = search(settings, "how do I add a source?", k=3)
        calls_first = server.count(EMBEDDINGS_PATH)
        second = search(settings, "meta spend missing", k=3)
        calls_second = server.count(EMBEDDINGS_PATH) - calls_first
        embedded = [r.body["input"] for r in server.requests_to(EMBEDDINGS_PATH)]
    assert first[0].ref == "docs/adding-a-source.md#adding-a-source"
    assert second[0].ref == "issue #12"
    # The first search embeds the 7 chunks (one batch) and the question; the second only
    # its question: the chunks' vectors are kept in the cache file.
    assert calls_first == 2 and calls_second == 1
    assert len(embedded[0]) == 7 and embedded[1] == ["how do I add a source?"]
    assert (tmp_path / "assistant" / "embeddings.jsonl").read_text().count("\n") == 7
    # Fused scores are reciprocal ranks: the chunk that names "add" and "source" in its
    # title, ref and body is first by BM25 and by the hashed word vectors, 1/61 + 1/61.
    assert first[0].score == pytest.approx(2 / 61, abs=1e-6)


def test_embedding_cache_survives_a_new_process_object(tmp_path):
    with OpenAIServer() as server:
        client = openai.OpenAI(api_key="test", base_url=server.base_url)
        path = tmp_path / "embeddings.jsonl"
        vectors = EmbeddingCache(path).embedder(client, "m")(["alpha beta", "gamma"], True)
        again = EmbeddingCache(path).embedder(client, "m")(["gamma", "alpha beta"], True)
        assert server.count(EMBEDDINGS_PATH) == 1
    assert again == [vectors[1], vectors[0]]

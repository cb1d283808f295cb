"""Retrieval over the knowledge chunks (docs, issues, comments) that the chain publishes.

BM25 (rank_bm25) always; with an embedding model configured, dense vectors too, the two
rankings fused by reciprocal rank fusion. The chunks are read from
`analytics.mart_knowledge_chunks` on the hardened read-only connection.

What a chunk says is data, never an instruction: search returns it as text to quote, with
its ref, and nothing here (or in the assistant) acts on its content. Snippets are cleaned
of control and invisible characters, so a planted escape sequence cannot reach a terminal.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rank_bm25 import BM25Okapi

from caravan.query_guard import connect_read_only

if TYPE_CHECKING:
    import openai

    from caravan.settings import Settings

CHUNKS_TABLE = "analytics.mart_knowledge_chunks"
SNIPPET_CHARACTERS = 300
# Reciprocal rank fusion's constant (Cormack et al. 2009): 60 damps the top ranks' lead.
RRF_K = 60
EMBEDDING_BATCH = 64
EMBEDDING_CHARACTERS = 6000  # a chunk's text sent for embedding, well under 8k tokens

# Words that say nothing about which chunk is meant.
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how
    i if in into is it its me my of on or our should so than that the their them then there
    these they this to was we were what when where which who why will with would you your
    about after all also any each get got just more most much not only other over same some
    such very""".split()
)
_RAW_WORD = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*")
_CAMEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Control characters, and invisible or direction-changing ones (zero-width, bidi overrides).
_UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    kind: str  # doc | issue | comment
    ref: str  # the citation: docs/adding-a-source.md#types-and-formats, issue #12
    title: str
    body: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Hit:
    ref: str
    title: str
    snippet: str
    score: float
    kind: str


# Texts → vectors; `remember=False` for a question, which is not worth keeping.
Embed = Callable[[list[str], bool], list[list[float]]]


def tokenize(text: str) -> list[str]:
    """Lower-case word stems; identifiers split (`dbt-source` → dbt, source; `fct_orders` →
    fct, orders and fct_orders; `utmSource` → utm, source); markdown punctuation dropped."""
    tokens: list[str] = []
    for raw in _RAW_WORD.findall(text):
        parts = [part for piece in raw.split("_") for part in _CAMEL_PART.findall(piece)]
        if "_" in raw:
            tokens.append(raw.lower())
        for part in parts:
            word = part.lower()
            if word not in _STOPWORDS:
                tokens.append(_stem(word))
    return tokens


def _stem(word: str) -> str:
    """A light suffix stripper: plurals and -ing/-ed, enough for `adding` to meet `add`."""
    if word.isdigit() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) >= 6:
        return word[:-3]
    if word.endswith("ed") and len(word) >= 5:
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def clean_text(text: str) -> str:
    """Text without control or invisible characters, whitespace collapsed (NFKC first, so
    fullwidth and compatibility forms read as what they look like)."""
    text = unicodedata.normalize("NFKC", text)
    return " ".join(_UNSAFE_CHARACTERS.sub(" ", text).split())


def best_snippet(body: str, query_tokens: set[str], width: int = SNIPPET_CHARACTERS) -> str:
    """About `width` characters of `body` (cleaned): a run of words holding the most
    query tokens, with the matches towards its middle."""
    text = clean_text(body)
    if len(text) <= width:
        return text
    words = text.split(" ")
    matches = [sum(1 for token in tokenize(word) if token in query_tokens) for word in words]
    counts = []
    for start in range(len(words)):
        count, length = 0, 0
        for word, matched in zip(words[start:], matches[start:], strict=True):
            length += len(word) + 1
            if length > width:
                break
            count += matched
        counts.append(count)
    # Of the windows holding the most, the middle one: the matches sit in its middle.
    best = [start for start, count in enumerate(counts) if count == max(counts)]
    best_start = best[len(best) // 2]
    end, length = best_start, 0
    while end < len(words) and length + len(words[end]) + 1 <= width:
        length += len(words[end]) + 1
        end += 1
    prefix = "… " if best_start else ""
    suffix = " …" if end < len(words) else ""
    return prefix + " ".join(words[best_start:end]) + suffix


def fuse_rankings(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each item scores the sum of 1 / (k + rank) over the rankings
    it appears in (rank from 1); best first, ties by first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def _indexed_text(chunk: Chunk) -> str:
    # The title twice: a heading says what a section is about more than any line of it.
    return f"{chunk.title}\n{chunk.title}\n{chunk.ref}\n{chunk.body}"


def bm25_ranking(chunks: Sequence[Chunk], query: str) -> list[tuple[int, float]]:
    """(chunk index, BM25 score) of the chunks sharing a token with `query`, best first."""
    query_tokens = tokenize(query)
    if not chunks or not query_tokens:
        return []
    documents = [tokenize(_indexed_text(chunk)) for chunk in chunks]
    scores = BM25Okapi(documents).get_scores(query_tokens)
    wanted = set(query_tokens)
    matching = [i for i, document in enumerate(documents) if wanted.intersection(document)]
    return sorted(((i, float(scores[i])) for i in matching), key=lambda pair: -pair[1])


def dense_ranking(chunks: Sequence[Chunk], query: str, embed: Embed) -> list[int]:
    """Chunk indexes by cosine similarity of their embedding to the query's, best first."""
    vectors = embed([_embedding_text(chunk) for chunk in chunks], True)
    (query_vector,) = embed([query], False)
    similarities = [_cosine(vector, query_vector) for vector in vectors]
    return sorted(range(len(chunks)), key=lambda i: -similarities[i])


def _embedding_text(chunk: Chunk) -> str:
    return f"{chunk.title}\n{chunk.body}"[:EMBEDDING_CHARACTERS]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def search_chunks(
    chunks: Sequence[Chunk], query: str, k: int = 5, embed: Embed | None = None
) -> list[Hit]:
    """The `k` best chunks for `query`, one per ref: BM25, fused with dense vectors if
    `embed` is given (only chunks BM25 found, or the dense top k, are candidates)."""
    lexical = bm25_ranking(chunks, query)
    if embed is None:
        ranked = lexical
    else:
        dense = dense_ranking(chunks, query, embed)[: max(k * 4, 20)]
        ranked = fuse_rankings([[i for i, _ in lexical], dense])
    query_tokens = set(tokenize(query))
    hits: list[Hit] = []
    seen: set[str] = set()
    for index, score in ranked:
        chunk = chunks[index]
        if chunk.ref in seen:
            continue
        seen.add(chunk.ref)
        snippet = best_snippet(chunk.body, query_tokens)
        hits.append(Hit(chunk.ref, clean_text(chunk.title), snippet, round(score, 6), chunk.kind))
        if len(hits) == k:
            break
    return hits


def load_chunks(warehouse_path: Path) -> list[Chunk]:
    """Every knowledge chunk in the warehouse; none if the warehouse or table is missing."""
    if not warehouse_path.exists():
        return []
    con = connect_read_only(warehouse_path)
    try:
        present = con.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = 'analytics' and table_name = 'mart_knowledge_chunks'"
        ).fetchone()
        if not present or not present[0]:
            return []
        rows = con.execute(
            f"select chunk_id, kind, ref, title, body, updated_at from {CHUNKS_TABLE}"
            " order by chunk_id"
        ).fetchall()
    finally:
        con.close()
    return [
        Chunk(str(chunk_id), str(kind), str(ref), title or "", body or "", updated_at)
        for chunk_id, kind, ref, title, body, updated_at in rows
    ]


def search(
    settings: Settings, query: str, k: int = 5, client: openai.OpenAI | None = None
) -> list[Hit]:
    """The `k` best chunks of the warehouse for `query`; dense retrieval joins BM25 when
    `settings.openai_embedding_model` is set and a model is configured."""
    chunks = load_chunks(settings.warehouse_path)
    embed = None
    if settings.openai_embedding_model and settings.language_model and chunks:
        from caravan.assistant.client import openai_client

        cache = EmbeddingCache(settings.home / "assistant" / "embeddings.jsonl")
        embed = cache.embedder(client or openai_client(settings), settings.openai_embedding_model)
    return search_chunks(chunks, query, k, embed)


class EmbeddingCache:
    """Embeddings kept by sha256(model, text) in a JSON-lines file, so a chunk is embedded
    once per model, not on every question."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._vectors: dict[str, list[float]] | None = None

    def _load(self) -> dict[str, list[float]]:
        if self._vectors is None:
            self._vectors = {}
            if self.path.exists():
                for line in self.path.read_text().splitlines():
                    if line.strip():
                        record = json.loads(line)
                        self._vectors[record["key"]] = record["vector"]
        return self._vectors

    def embedder(self, client: openai.OpenAI, model: str) -> Embed:
        def embed(texts: list[str], remember: bool = True) -> list[list[float]]:
            if not remember:
                response = client.embeddings.create(model=model, input=texts)
                return [list(item.embedding) for item in response.data]
            vectors = self._load()
            keys = [hashlib.sha256(f"{model}\0{text}".encode()).hexdigest() for text in texts]
            missing = sorted(
                {
                    key: text for key, text in zip(keys, texts, strict=True) if key not in vectors
                }.items()
            )
            new_lines = []
            for start in range(0, len(missing), EMBEDDING_BATCH):
                batch = missing[start : start + EMBEDDING_BATCH]
                response = client.embeddings.create(model=model, input=[t for _, t in batch])
                for (key, _), item in zip(batch, response.data, strict=True):
                    vectors[key] = list(item.embedding)
                    new_lines.append(json.dumps({"key": key, "vector": vectors[key]}))
            if new_lines:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as out:
                    out.write("\n".join(new_lines) + "\n")
            return [vectors[key] for key in keys]

        return embed

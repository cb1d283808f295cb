"""`ask`: Marketing Jarvis's one entry point, for the CLI, a dashboard or a REST endpoint.

With a language model configured (OPENAI_API_KEY), the model answers through its tools
(llm.py). Offline, clearly labelled so:
- a metric question the deterministic parser understands runs as a governed metric
  query, printed with the metric used and the time range;
- a question about the platform or the team's issues gets the best passages, quoted
  with their refs (retrieval works the same offline);
- a question about numbers the parser does not understand says that it needs a model,
  rather than quoting documents that do not answer it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from caravan.assistant.answer import OFFLINE, Answer, answer_as_json, format_answer
from caravan.assistant.retrieval import CHUNKS_TABLE, Hit, load_chunks, search_chunks
from caravan.settings import Settings, get_settings

if TYPE_CHECKING:
    import openai

__all__ = ["Answer", "answer_as_json", "ask", "answer_offline", "format_answer"]

OFFLINE_RESULTS = 3

# A question about the platform: how to do something, where something is, what it means.
_PLATFORM_QUESTION = re.compile(
    r"\b(how (do|can|should|to)|where|why (does|do|is|did)|what does|what is the (meaning|"
    r"definition)|define|docs?\b|documentation|issues?\b|bug|error|configure|set ?up|install)",
    re.IGNORECASE,
)
# A question about numbers: a measure, and a cue that a figure is wanted.
_MEASURE = re.compile(
    r"\b(revenue|spend|spent|orders?|roas|cpa|cac|ltv|sessions?|conversions?|clicks?|"
    r"impressions?|customers?|units|sales|margin|aov|funnel|return on ad spend)\b",
    re.IGNORECASE,
)
_FIGURE_CUE = re.compile(
    r"\b(how (much|many)|what (was|were|is|are)|total|sum|average|avg|by|per|trend|compare|"
    r"top|highest|lowest|most|least|last|this|yesterday|week|month|day|daily|weekly)\b",
    re.IGNORECASE,
)

NEEDS_A_MODEL = (
    "This question needs a language model, and Caravan is offline (no OPENAI_API_KEY).\n"
    "Offline, numbers come only from the metric questions Caravan parses itself, such as\n"
    '  "what was net revenue by channel last week under last touch?"\n'
    "and questions about the platform are answered from the documentation and the issue"
    " tracker."
)


def ask(
    question: str, settings: Settings | None = None, client: openai.OpenAI | None = None
) -> Answer:
    """Answer `question` from the marts, the docs and the issues, citing what it used."""
    settings = settings or get_settings()
    question = " ".join(question.split())
    if not question:
        raise ValueError("caravan ask: the question is empty")
    if settings.language_model:
        from caravan.assistant.llm import answer_with_model

        return answer_with_model(question, settings, client)
    return answer_offline(question, settings)


def answer_offline(question: str, settings: Settings) -> Answer:
    """The offline answer: a parsed metric question, retrieval, or "needs a model"."""
    from caravan.assistant import metrics

    if not settings.warehouse_path.exists():
        return Answer(
            text=f"There is no warehouse at {settings.warehouse_path}: run `make demo` first.",
            mode=OFFLINE,
        )
    as_of = metrics.latest_data_date(settings)
    query = metrics.parse_metric_question(question, as_of) if as_of else None
    if query is not None:
        return _metric_answer(settings, query)
    if is_numbers_question(question):
        return Answer(text=NEEDS_A_MODEL, mode=OFFLINE)
    chunks = load_chunks(settings.warehouse_path)
    if not chunks:
        return Answer(
            text=f"The warehouse has no {CHUNKS_TABLE} (the docs and issues, as chunks) to"
            " search: run `make demo` first.",
            mode=OFFLINE,
        )
    hits = search_chunks(chunks, question, OFFLINE_RESULTS)  # offline: BM25 only
    if not hits:
        return Answer(
            text="Nothing in Caravan's documentation or issue tracker matches this question;"
            " offline, there is no model to answer it otherwise.",
            mode=OFFLINE,
        )
    return Answer(
        text=quoted_hits(hits), mode=OFFLINE, citations=[hit.ref for hit in hits], notes=[]
    )


def is_numbers_question(question: str) -> bool:
    """A question asking for figures rather than about the platform (a heuristic: it names
    a measure and a cue such as "how much", "by", "last week", and is not a how-to)."""
    if _PLATFORM_QUESTION.search(question):
        return False
    return bool(_MEASURE.search(question) and _FIGURE_CUE.search(question))


def quoted_hits(hits: list[Hit]) -> str:
    """The passages, quoted as found (data, not instructions), each under its ref."""
    lines = ["From Caravan's documentation and issue tracker (quoted, best match first):"]
    for hit in hits:
        lines.append("")
        lines.append(f"{hit.ref} — {hit.title}" if hit.title else hit.ref)
        lines.append(f"  > {hit.snippet}")
    return "\n".join(lines)


def _metric_answer(settings: Settings, query) -> Answer:
    from caravan.assistant import metrics

    result = metrics.run_metric_query(settings, query)
    return Answer(
        text=f"Metric query: {result.description}",
        mode=OFFLINE,
        metric=result.query or query,
        sql=result.sql,
        columns=list(result.columns),
        rows=list(result.rows),
        citations=[f"metric {name}" for name in result.metrics],
        notes=[],
    )

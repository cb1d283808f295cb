"""Labels from OpenAI's chat completions with structured outputs, batched and budgeted.

Transport trouble is the `openai` client's: it retries 408/409/429/5xx and connection
errors `max_retries` times, waiting what the server's `retry-after-ms` / `retry-after`
say (up to two minutes), else backing off exponentially from 0.5 s with jitter
(openai/_base_client.py `_should_retry`, `_calculate_retry_timeout`). When those retries
are spent the run fails with `ModelUnavailable` (Airflow retries the task later; what was
labelled before is in the cache by then).

Answer trouble is ours: an answer that breaks the contract (labels.validate_answer) is
asked again for the records it failed, up to `max_attempts` answers in all, and then
those records go to quarantine with the last reason.

The budget counts tokens: before each request its tokens are estimated from characters
(conservatively: no tokenizer, tiktoken would download its vocabularies), and a request
that would pass what is left is not sent; its records and all after them are deferred.
What a request used is counted from the answer's `usage`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from caravan.enrichment.labels import (
    Kind,
    Label,
    Verdict,
    messages,
    response_format,
    validate_answer,
)

if TYPE_CHECKING:
    import openai

    from caravan.settings import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 20  # texts per request
MAX_ATTEMPTS = 3  # answers asked for a text before its record goes to quarantine
MAX_RETRIES = 5  # the client's retries of one request (429, 5xx, connection)
TIMEOUT_SECONDS = 60.0
# Estimates: English runs about 4 characters a token, other languages and JSON fewer; 3
# overestimates both. An answer's entry is ~25 tokens; 40 leaves room for several topics.
CHARS_PER_TOKEN = 3
ANSWER_TOKENS_PER_TEXT = 40
TOKENS_PER_MESSAGE = 8  # chat framing around each message

Item = tuple[str, str]  # (id as sent to the model, text)


class ModelUnavailable(RuntimeError):
    """The model's API failed after the client's retries; `partial` holds what was
    labelled before, so the caller can keep it (the cache) before failing the run."""

    def __init__(self, message: str, partial: Outcome):
        super().__init__(message)
        self.partial = partial


@dataclass
class Budget:
    """Tokens one run may spend, and how many it has."""

    limit: int
    used: int = 0

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)

    def allows(self, estimate: int) -> bool:
        return estimate <= self.left

    def spend(self, tokens: int) -> None:
        self.used += tokens


@dataclass
class Outcome:
    labels: dict[str, Label] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)  # id → reason
    deferred: list[str] = field(default_factory=list)  # ids the budget left for later
    calls: int = 0  # requests answered (the client's own retries not counted)
    tokens: int = 0


def estimate_tokens(kind: Kind, items: Sequence[Item]) -> int:
    """An upper estimate of a request's tokens: prompt, schema and answer."""
    prompt = sum(len(message["content"]) for message in messages(kind, items))
    schema = len(json.dumps(response_format(kind)))
    framing = TOKENS_PER_MESSAGE * 2
    return (
        math.ceil((prompt + schema) / CHARS_PER_TOKEN)
        + framing
        + ANSWER_TOKENS_PER_TEXT * len(items)
    )


def batches(items: Sequence[Item], size: int) -> list[list[Item]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def client_for(
    settings: Settings, *, max_retries: int = MAX_RETRIES, timeout: float = TIMEOUT_SECONDS
) -> openai.OpenAI:
    import openai

    return openai.OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        max_retries=max_retries,
        timeout=timeout,
    )


class OpenAILabeller:
    """Labels texts of one kind with one model."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        kind: Kind,
        *,
        batch_size: int = BATCH_SIZE,
        max_attempts: int = MAX_ATTEMPTS,
    ):
        if batch_size < 1 or max_attempts < 1:
            raise ValueError(f"batch_size {batch_size} and max_attempts {max_attempts} must be ≥ 1")
        self.client = client
        self.model = model
        self.kind = kind
        self.batch_size = batch_size
        self.max_attempts = max_attempts

    def label(self, items: Sequence[Item], budget: Budget) -> Outcome:
        """Label `items` in order, batch by batch, until done or the budget stops it."""
        outcome = Outcome()
        pending = batches(items, self.batch_size)
        while pending:
            batch = pending.pop(0)
            stopped = self._label_batch(batch, budget, outcome)
            if stopped:
                outcome.deferred.extend(item_id for rest in pending for item_id, _ in rest)
                break
        return outcome

    def _label_batch(self, batch: list[Item], budget: Budget, outcome: Outcome) -> bool:
        """Label one batch into `outcome`; True when the budget stopped it (the unlabelled
        part of the batch is deferred)."""
        asking = batch
        reasons: dict[str, str] = {}
        for attempt in range(1, self.max_attempts + 1):
            estimate = estimate_tokens(self.kind, asking)
            if not budget.allows(estimate):
                log.info(
                    "%s: budget left %d tokens, next request needs ~%d: deferring the rest",
                    self.kind.name,
                    budget.left,
                    estimate,
                )
                outcome.deferred.extend(item_id for item_id, _ in asking)
                return True
            served_model, content, refusal, tokens = self._ask(asking, outcome, estimate)
            budget.spend(tokens)
            ids = [item_id for item_id, _ in asking]
            if refusal is not None:
                refused = f"the model refused: {refusal}"
                verdict = Verdict({}, {i: f"{self.kind.name} id {i}: {refused}" for i in ids})
            else:
                verdict = validate_answer(self.kind, ids, content)
            for item_id, (sentiment, topics, language) in verdict.labels.items():
                outcome.labels[item_id] = Label(sentiment, topics, language, served_model)
            reasons = verdict.problems
            if not reasons:
                return False
            log.warning(
                "%s: answer %d of %d fails the contract for %d of %d texts (%s)",
                self.kind.name,
                attempt,
                self.max_attempts,
                len(reasons),
                len(asking),
                next(iter(reasons.values())),
            )
            asking = [item for item in asking if item[0] in reasons]
        for item_id, _ in asking:
            outcome.quarantined[item_id] = (
                f"{reasons[item_id]} (after {self.max_attempts} answers from {self.model})"
            )
        return False

    def _ask(
        self, items: list[Item], outcome: Outcome, estimate: int
    ) -> tuple[str, str | None, str | None, int]:
        """One request: (the model the server reports, the answer's content, a refusal,
        tokens used)."""
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages(self.kind, items),
                response_format=response_format(self.kind),
            )
        except openai.APIError as error:
            first, last = items[0][0], items[-1][0]
            raise ModelUnavailable(
                f"{self.kind.name} ids {first}..{last}: {self.model} at {self.client.base_url}"
                f" failed after {self.client.max_retries} retries: {_describe(error)}",
                outcome,
            ) from error
        outcome.calls += 1
        tokens = response.usage.total_tokens if response.usage else estimate
        outcome.tokens += tokens
        message = response.choices[0].message if response.choices else None
        content = message.content if message is not None else None
        refusal = message.refusal if message is not None else None
        return response.model or self.model, content, refusal, tokens


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    kind = type(error).__name__
    return f"{kind} {status}: {error}" if status else f"{kind}: {error}"

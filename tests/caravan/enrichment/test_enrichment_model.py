"""The OpenAI labeller with the real `openai` client over HTTP to tests/openai_server.py:
structured outputs, batching, 429/5xx storms, malformed answers, the token budget."""

from __future__ import annotations

import json
import math

import openai
import pytest

from caravan.enrichment.labels import KINDS, Label
from caravan.enrichment.model import Budget, ModelUnavailable, OpenAILabeller, estimate_tokens
from tests.caravan.enrichment.support import answering, asked_ids
from tests.openai_server import CHAT_PATH, OpenAIServer
from tests.openai_server import estimate_tokens as served_tokens

REVIEWS = KINDS["reviews"]
SERVED = "gpt-4o-mini-2024-07-18"  # what the server reports (OpenAIServer's default)

TRUTH = {
    f"r{n}": (sentiment, topics, language)
    for n, (sentiment, topics, language) in enumerate(
        [
            ("negative", ["shipping"], "en"),
            ("positive", ["quality", "price"], "en"),
            ("neutral", [], "de"),
            ("negative", ["sizing"], "fr"),
            ("positive", ["customer_service"], "es"),
        ],
        start=1,
    )
}
ITEMS = [(item_id, f"text of {item_id}") for item_id in TRUTH]
EXPECTED = {
    item_id: Label(sentiment, tuple(topics), language, SERVED)
    for item_id, (sentiment, topics, language) in TRUTH.items()
}


def labeller(server: OpenAIServer, *, max_retries: int = 5, **options) -> OpenAILabeller:
    client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=max_retries)
    return OpenAILabeller(client, "gpt-4o-mini", REVIEWS, **options)


def test_structured_outputs_batched_and_counted():
    with OpenAIServer(answering(TRUTH)) as server:
        outcome = labeller(server, batch_size=2).label(ITEMS, Budget(10**6))
        requests = server.requests_to(CHAT_PATH)
    assert outcome.labels == EXPECTED
    assert outcome.quarantined == {} and outcome.deferred == []
    # 5 texts, 2 per request: ceil(5 / 2) = 3 requests, in order.
    assert len(requests) == math.ceil(5 / 2) == outcome.calls
    assert [asked_ids(r.body) for r in requests] == [["r1", "r2"], ["r3", "r4"], ["r5"]]
    body = requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    # Tokens as the server counted them: ceil(len(messages JSON) / 4) + ceil(len(answer) / 4).
    assert outcome.tokens == sum(
        served_tokens(json.dumps(r.body["messages"])) + served_tokens(answering(TRUTH)(r.body))
        for r in requests
    )


def test_a_429_storm_is_retried_with_the_server_hints():
    with OpenAIServer(answering(TRUTH)) as server:
        server.fail_next(3, 429, retry_after_ms=30)
        server.fail_next(1, 429, retry_after=0.05)
        outcome = labeller(server, batch_size=5).label(ITEMS, Budget(10**6))
        requests = server.requests_to(CHAT_PATH)
    assert outcome.labels == EXPECTED
    assert [r.status for r in requests] == [429, 429, 429, 429, 200]
    assert outcome.calls == 1  # the client's retries are transport, not answers
    gaps = [later.at - earlier.at for earlier, later in zip(requests, requests[1:])]
    assert all(gap >= 0.03 for gap in gaps[:3]) and gaps[3] >= 0.05


def test_the_retry_waits_what_retry_after_says_not_the_default_backoff():
    # The client's own first backoff is at most 0.5 s; a 0.6 s wait can only be the hint.
    with OpenAIServer(answering(TRUTH)) as server:
        server.fail_next(1, 429, retry_after=0.6)
        labeller(server, batch_size=5).label(ITEMS, Budget(10**6))
        first, second = server.requests_to(CHAT_PATH)
    assert second.at - first.at >= 0.6


def test_a_5xx_storm_is_retried_then_succeeds():
    with OpenAIServer(answering(TRUTH)) as server:
        server.fail_next(2, 500, retry_after_ms=10)
        server.fail_next(2, 503, retry_after_ms=10)
        outcome = labeller(server, batch_size=5).label(ITEMS, Budget(10**6))
        statuses = [r.status for r in server.requests_to(CHAT_PATH)]
    assert statuses == [500, 500, 503, 503, 200]
    assert outcome.labels == EXPECTED


def test_exhausted_retries_fail_clearly_keeping_what_was_labelled():
    def answer_then_go_down(request):
        server.fail_next(10, 503, retry_after_ms=5)  # every request after this one
        return answering(TRUTH)(request)

    with OpenAIServer(answer_then_go_down) as server:
        with pytest.raises(ModelUnavailable) as raised:
            labeller(server, max_retries=2, batch_size=2).label(ITEMS, Budget(10**6))
        statuses = [r.status for r in server.requests_to(CHAT_PATH)]
    message = str(raised.value)
    assert "reviews ids r3..r4" in message and "InternalServerError 503" in message
    assert "after 2 retries" in message
    # The first batch's answer, then the second batch's request and its 2 retries.
    assert statuses == [200, 503, 503, 503]
    assert raised.value.partial.labels == {key: EXPECTED[key] for key in ("r1", "r2")}


def test_malformed_json_is_asked_again():
    with OpenAIServer(answering(TRUTH)) as server:
        server.malformed_next(2, content='{"labels": [{"id": "r1", "sentim')
        outcome = labeller(server, batch_size=5, max_attempts=3).label(ITEMS, Budget(10**6))
    assert server.count(CHAT_PATH) == 3
    assert outcome.labels == EXPECTED and outcome.quarantined == {}
    assert outcome.calls == 3


def test_malformed_json_that_persists_goes_to_quarantine_with_its_reason():
    with OpenAIServer(answering(TRUTH)) as server:
        server.malformed_next(3, content="Sure! Here are the labels: ...")
        outcome = labeller(server, batch_size=3, max_attempts=3).label(ITEMS, Budget(10**6))
        assert server.count(CHAT_PATH) == 4  # 3 answers for the first batch, 1 for the second
    assert set(outcome.quarantined) == {"r1", "r2", "r3"}
    assert (
        "reviews answer is not valid JSON (Expecting value at char 0)" in outcome.quarantined["r1"]
    )
    assert "after 3 answers" in outcome.quarantined["r1"]
    assert outcome.labels == {key: EXPECTED[key] for key in ("r4", "r5")}


def test_only_the_failed_records_are_asked_again():
    def forgetful(request):
        ids = asked_ids(request)
        answer = json.loads(answering(TRUTH)(request))
        if len(ids) > 1:  # drops r2, and puts r3's topic outside the vocabulary
            answer["labels"] = [e for e in answer["labels"] if e["id"] != "r2"]
            for entry in answer["labels"]:
                if entry["id"] == "r3":
                    entry["topics"] = ["delivery"]
        return json.dumps(answer)

    with OpenAIServer(forgetful) as server:
        outcome = labeller(server, batch_size=5).label(ITEMS, Budget(10**6))
        asked = [asked_ids(r.body) for r in server.requests_to(CHAT_PATH)]
    # 3 answers in all (max_attempts): the batch, then r2 and r3 twice, failing again as
    # they are asked together (len > 1); then quarantined.
    assert asked == [["r1", "r2", "r3", "r4", "r5"], ["r2", "r3"], ["r2", "r3"]]
    assert outcome.quarantined["r2"].startswith("reviews id r2: the answer has no labels for it")
    assert outcome.quarantined["r3"].startswith(
        "reviews id r3: field topics has ['delivery'], not in"
    )
    assert outcome.labels == {key: EXPECTED[key] for key in ("r1", "r4", "r5")}


def test_the_estimate_is_an_upper_bound_of_what_the_server_counts():
    texts = [(f"r{n}", "Die Lieferung kam zu spät, der Stoff ist dünn. " * n) for n in range(1, 8)]
    with OpenAIServer(answering({i: ("negative", ["shipping"], "de") for i, _ in texts})) as server:
        outcome = labeller(server, batch_size=7).label(texts, Budget(10**6))
    assert outcome.tokens <= estimate_tokens(REVIEWS, texts)


def test_the_budget_defers_the_rest_in_order():
    # The server reports 1000 tokens per answer. Requests are estimated at 400..1000
    # tokens (checked), so 2400 pays for two (1000 and 2000 used; 1400 left before the
    # second) and the third (r5 alone) does not fit in the 400 left.
    def costly(request):
        return {"message": {"content": answering(TRUTH)(request)}, "usage": USAGE}

    USAGE = {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000}
    assert estimate_tokens(REVIEWS, ITEMS[:2]) < 1000
    assert estimate_tokens(REVIEWS, ITEMS[2:4]) < 1000
    assert estimate_tokens(REVIEWS, ITEMS[4:]) > 400
    budget = Budget(2400)
    with OpenAIServer(costly) as server:
        outcome = labeller(server, batch_size=2).label(ITEMS, budget)
        assert server.count(CHAT_PATH) == 2
    assert outcome.labels == {key: EXPECTED[key] for key in ("r1", "r2", "r3", "r4")}
    assert outcome.deferred == ["r5"]
    assert outcome.tokens == budget.used == 2000

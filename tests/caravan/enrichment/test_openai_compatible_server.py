"""tests/openai_server.py itself, through the real `openai` client: the shapes it answers
in (tool calls, embeddings, usage), its recording and its scripted failures."""

from __future__ import annotations

import base64
import json
import math
import struct

import openai
import pytest

from tests.openai_server import CHAT_PATH, EMBEDDINGS_PATH, OpenAIServer


def client(server: OpenAIServer, **options) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url=server.base_url, **options)


def test_tool_calls_come_back_as_the_client_parses_them():
    def responder(request):
        assert request["tools"][0]["function"]["name"] == "query_metrics"
        return {"tool_calls": [{"function": {"name": "query_metrics", "arguments": {"m": 1}}}]}

    tools = [{"type": "function", "function": {"name": "query_metrics", "parameters": {}}}]
    with OpenAIServer(responder) as server:
        response = client(server).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], tools=tools
        )
        recorded = server.requests_to(CHAT_PATH)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.type, call.function.name, json.loads(call.function.arguments)) == (
        "function",
        "query_metrics",
        {"m": 1},
    )
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )
    assert recorded[0].body["messages"] == [{"role": "user", "content": "hi"}]
    assert recorded[0].headers["authorization"] == "Bearer k"


def test_embeddings_are_deterministic_unit_vectors_sharing_words_alike():
    # The client asks for base64 by default (and decodes it); asked explicitly, it is text.
    with OpenAIServer(embedding_dim=32) as server:
        texts = ["net revenue by channel", "channel by net revenue", "how to add a source"]
        floats = client(server).embeddings.create(model="e", input=texts)
        packed = client(server).embeddings.create(model="e", input=texts, encoding_format="base64")
        assert server.count(EMBEDDINGS_PATH) == 2
    vectors = [item.embedding for item in floats.data]
    assert all(
        len(v) == 32 and math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-6) for v in vectors
    )
    same = sum(a * b for a, b in zip(vectors[0], vectors[1]))
    assert math.isclose(same, 1.0, rel_tol=1e-6)  # the same words
    raw = packed.data[0].embedding
    decoded = (
        list(struct.unpack("<32f", base64.b64decode(raw))) if isinstance(raw, str) else list(raw)
    )
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, vectors[0]))
    assert floats.usage.prompt_tokens == 4 + 4 + 5  # words


def test_scripted_failures_and_authentication():
    with OpenAIServer(api_key="right") as server:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(api_key="wrong", base_url=server.base_url).chat.completions.create(
                model="m", messages=[]
            )
        server.api_key = None
        server.fail_next(2, 400, message="bad request")
        with pytest.raises(openai.BadRequestError, match="bad request"):  # 400: not retried
            client(server, max_retries=3).chat.completions.create(model="m", messages=[])
        assert [r.status for r in server.requests] == [401, 400]
        server.reset()
        assert server.count() == 0

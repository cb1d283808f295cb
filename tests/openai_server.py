"""An OpenAI-compatible HTTP server for tests: the real `openai` client talks to it over HTTP.

It stands for OpenAI's API the way fake-gcs-server stands for GCS: a real server on
127.0.0.1 (a `ThreadingHTTPServer` in a daemon thread), answering in OpenAI's response
shapes, so the code under test runs unchanged, its retries and parsing included.

    from tests.openai_server import OpenAIServer

    def responder(request: dict) -> dict | str:   # the request's JSON body
        return '{"labels": []}'                  # a raw str: the message's content

    with OpenAIServer(responder) as server:
        client = openai.OpenAI(api_key="test", base_url=server.base_url)
        ...
        assert server.count("/v1/chat/completions") == 1

Endpoints:
- `POST /v1/chat/completions`: the answer's message comes from the test's `responder`,
  called with the request body (so `response_format` json_schema and `tools` are the
  responder's to honour). It may return
    - a `str`: the assistant message's `content`;
    - a message `dict`: `{"content": ...}` or `{"tool_calls": [{"function": {"name": ...,
      "arguments": {...} or "json text"}}]}` (ids, `type` and JSON-encoding of dict
      arguments are filled in; `finish_reason` becomes `tool_calls`);
    - `{"message": <message dict>, "usage": {...}, "finish_reason": ...}` to also set
      usage (otherwise estimated: ceil(characters / 4) of the messages and the answer).
  A responder that raises makes a 500 with the exception's text (and is recorded).
- `POST /v1/embeddings`: deterministic vectors (`embedding_dim`, L2-normalised) from a
  signed hashing of the input's lower-cased words: texts sharing words get similar
  vectors; `encoding_format="base64"` is honoured (float32 little-endian).
- `GET /v1/models`: the one model.

Every answer carries `model` (the constructor's `model`, what "the server reports") and
`usage`. Requests are recorded (`server.requests`: path, body, headers, monotonic time,
the status answered) and counted per path (`server.count(path)`).

Scripted trouble, consumed in order by the next requests to `path`:
- `server.fail_next(n, status=429, retry_after=0.02)`: n error answers; `retry_after`
  (seconds, sent as `retry-after`) and/or `retry_after_ms` (sent as `retry-after-ms`).
  The openai client honours these hints (up to 120 s) and otherwise backs off 0.5 s, 1 s,
  … so give a small hint in tests to keep them fast.
- `server.malformed_next(n, content='{"labels": [')`: n 200 answers whose message
  content is the given (broken) text instead of the responder's.

With `api_key` set, a request without `Authorization: Bearer <api_key>` gets a 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"

Responder = Callable[[dict], "dict | str"]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: dict
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    status: int = 0  # the status answered (filled in once answered)


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None
    retry_after_ms: float | None
    message: str


@dataclass(frozen=True)
class _Malformed:
    content: str


@dataclass
class _Script:
    by_path: dict[str, deque] = field(default_factory=dict)

    def push(self, path: str, items: list) -> None:
        self.by_path.setdefault(path, deque()).extend(items)

    def pop(self, path: str) -> Any | None:
        queue = self.by_path.get(path)
        return queue.popleft() if queue else None


def _default_responder(request: dict) -> str:
    return "ok"


def estimate_tokens(text: str) -> int:
    """The server's token count for usage: ceil(characters / 4), like OpenAI's rule of thumb."""
    return math.ceil(len(text) / 4) if text else 0


def hashed_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: each lower-cased word adds ±1 at a hashed index."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dim
        vector[index] += 1.0 if digest[4] % 2 == 0 else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [value / norm for value in vector]


class OpenAIServer:
    """A real OpenAI-compatible server on 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = "gpt-4o-mini-2024-07-18",
        embedding_dim: int = 64,
        api_key: str | None = None,
    ) -> None:
        self.responder = responder or _default_responder
        self.model = model
        self.embedding_dim = embedding_dim
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._counts: Counter[str] = Counter()
        self._script = _Script()
        self._lock = threading.Lock()
        self._serial = 0
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- scripting and inspection -------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int = 429,
        *,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        path: str = CHAT_PATH,
        message: str | None = None,
    ) -> None:
        """The next `n` requests to `path` get `status` with the given retry hints."""
        failure = _Failure(status, retry_after, retry_after_ms, message or f"scripted {status}")
        with self._lock:
            self._script.push(path, [failure] * n)

    def malformed_next(self, n: int, content: str = '{"labels": [') -> None:
        """The next `n` chat completions answer 200 with `content` (e.g. broken JSON)."""
        with self._lock:
            self._script.push(CHAT_PATH, [_Malformed(content)] * n)

    def count(self, path: str = CHAT_PATH) -> int:
        """Requests received on `path` (failed ones included)."""
        with self._lock:
            return self._counts[path]

    def requests_to(self, path: str = CHAT_PATH) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def reset(self) -> None:
        """Forget recorded requests, counts and any unconsumed script."""
        with self._lock:
            self.requests.clear()
            self._counts.clear()
            self._script = _Script()

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> OpenAIServer:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- answering (called from the handler's threads) ---------------------------------

    def _record(self, path: str, body: dict, headers: dict[str, str]) -> int:
        with self._lock:
            self._counts[path] += 1
            self.requests.append(RecordedRequest(path, body, headers, time.monotonic()))
            return len(self.requests) - 1

    def _set_status(self, index: int, status: int) -> None:
        with self._lock:
            request = self.requests[index]
            self.requests[index] = RecordedRequest(
                request.path, request.body, request.headers, request.at, status
            )

    def _next_scripted(self, path: str) -> Any | None:
        with self._lock:
            return self._script.pop(path)

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._serial += 1
            return f"{prefix}-{self._serial}"

    def answer(self, path: str, body: dict) -> tuple[int, dict, dict[str, str]]:
        """(status, JSON body, extra headers) for one request that passed authentication."""
        scripted = self._next_scripted(path)
        if isinstance(scripted, _Failure):
            headers = {}
            if scripted.retry_after is not None:
                headers["retry-after"] = _number(scripted.retry_after)
            if scripted.retry_after_ms is not None:
                headers["retry-after-ms"] = _number(scripted.retry_after_ms)
            return scripted.status, _error_body(scripted.status, scripted.message), headers
        if path == CHAT_PATH:
            if isinstance(scripted, _Malformed):
                return 200, self._chat_completion(body, {"content": scripted.content}), {}
            try:
                answer = self.responder(body)
            except Exception as error:  # the responder is test code: report, do not hang
                return 500, _error_body(500, f"responder failed: {error!r}"), {}
            return 200, self._chat_completion(body, answer), {}
        if path == EMBEDDINGS_PATH:
            return 200, self._embeddings(body), {}
        return 404, _error_body(404, f"no such endpoint: {path}"), {}

    def _chat_completion(self, request: dict, answer: dict | str) -> dict:
        if isinstance(answer, str):
            answer = {"message": {"content": answer}}
        elif "message" not in answer:
            answer = {"message": answer}
        message = {"role": "assistant", "content": None, "refusal": None, **answer["message"]}
        finish_reason = answer.get("finish_reason") or "stop"
        if message.get("tool_calls"):
            message["tool_calls"] = [
                self._tool_call(number, call) for number, call in enumerate(message["tool_calls"])
            ]
            finish_reason = answer.get("finish_reason") or "tool_calls"
        prompt_tokens = estimate_tokens(json.dumps(request.get("messages", [])))
        completion_tokens = estimate_tokens(
            (message.get("content") or "") + json.dumps(message.get("tool_calls") or "")
        )
        usage = answer.get("usage") or {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return {
            "id": self._next_id("chatcmpl"),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": usage,
        }

    def _tool_call(self, number: int, call: dict) -> dict:
        function = dict(call["function"])
        if not isinstance(function.get("arguments"), str):
            function["arguments"] = json.dumps(function.get("arguments") or {})
        return {
            "id": call.get("id") or self._next_id(f"call_{number}"),
            "type": "function",
            "function": function,
        }

    def _embeddings(self, request: dict) -> dict:
        texts = request.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = []
        for index, text in enumerate(texts):
            vector = hashed_embedding(str(text), self.embedding_dim)
            if request.get("encoding_format") == "base64":
                packed = struct.pack(f"<{len(vector)}f", *vector)
                embedding: Any = base64.b64encode(packed).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(re.findall(r"\w+", str(text))) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": request.get("model") or self.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _error_body(status: int, message: str) -> dict:
    kind = {
        401: "invalid_request_error",
        404: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_unparsable": raw.decode(errors="replace")}
            path = self.path.split("?", 1)[0]
            index = server._record(path, body, {k.lower(): v for k, v in self.headers.items()})
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                status, answer, headers = 401, _error_body(401, "invalid api key"), {}
            else:
                status, answer, headers = server.answer(path, body)
            server._set_status(index, status)
            self._send(status, answer, headers)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/v1/models":
                model = {"id": server.model, "object": "model", "created": 0, "owned_by": "tests"}
                self._send(200, {"object": "list", "data": [model]}, {})
            else:
                self._send(404, _error_body(404, f"no such endpoint: {self.path}"), {})

        def _send(self, status: int, answer: dict, headers: dict[str, str]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler

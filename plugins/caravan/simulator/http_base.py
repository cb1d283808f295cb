"""What the simulated APIs share: a threaded JSON server with fault knobs.

Each API subclasses the handler with its own routes and error shapes; this
module answers, counts requests, injects faults and keeps tokens out of logs.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from caravan.simulator.faults import NO_FAULTS, RETRY_AFTER_SECONDS, Faults, request_fault
from caravan.simulator.world import World

# Tokens that clients put in query strings (Graph's access_token); never logged.
_SECRET_PARAM = re.compile(r"((?:access_token|token|key)=)[^&\s]+", re.IGNORECASE)


class HttpError(Exception):
    """An error answer: a status and a JSON body in the API's own shape."""

    def __init__(self, code: int, payload: dict[str, Any]) -> None:
        super().__init__(json.dumps(payload))
        self.code = code
        self.payload = payload

    def body(self) -> dict[str, Any]:
        return self.payload


class Reply:
    """An answer with headers of its own (GitHub's `Link` for the next page)."""

    def __init__(self, payload: Any, headers: dict[str, str]) -> None:
        self.payload = payload
        self.headers = headers


class SimulatorServer(ThreadingHTTPServer):
    """A server that knows its World, page size and fault knobs, and counts its requests."""

    daemon_threads = True
    source = "simulator"

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        world: World,
        page_size: int,
        faults: Faults = NO_FAULTS,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.world = world
        self.page_size = page_size
        self.faults = faults
        self._request_numbers = itertools.count(1)
        self._lock = threading.Lock()
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def next_fault(self) -> int | None:
        """The fault status for the next request (numbered in arrival order), if any."""
        with self._lock:
            number = next(self._request_numbers)
        return request_fault(self.world.seed, self.source, number, self.faults.fault_rate)


class JsonHandler(BaseHTTPRequestHandler):
    """Reads the body, applies the fault knobs, answers JSON; subclasses route."""

    protocol_version = "HTTP/1.1"
    server: SimulatorServer
    log: logging.Logger = logging.getLogger(__name__)

    def fault_body(self, status: int) -> dict[str, Any]:
        """The API's own body for a throttled or failed request."""
        return {"error": {"code": status, "message": HTTPStatus(status).phrase}}

    def answer(self, answer: Callable[[bytes], Any]) -> None:
        """Serve one request: a fault if the knobs say so, else `answer(body)` (a JSON
        value, or a `Reply` with headers) or its error."""
        body = self._read_body()
        headers: dict[str, str] = {}
        fault = self.server.next_fault()
        if fault is not None:
            code, payload = fault, self.fault_body(fault)
            if fault in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
                headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        else:
            try:
                code, payload = HTTPStatus.OK, answer(body)
                if isinstance(payload, Reply):
                    headers.update(payload.headers)
                    payload = payload.payload
            except HttpError as error:
                code, payload = error.code, error.body()
        if self.server.faults.slow_seconds:
            time.sleep(self.server.faults.slow_seconds)
        self._send_json(code, payload, headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line and status only, tokens masked: headers are never logged.
        message = _SECRET_PARAM.sub(r"\1***", format % args)
        self.log.info("%s %s", self.address_string(), message)

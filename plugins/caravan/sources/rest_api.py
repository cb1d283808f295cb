"""The `rest_api` kind: dlt's REST API source, configured by the registry.

dlt brings the mechanics (paginators, auth, retries with backoff that honour
Retry-After on 429/5xx); the registry says what to ask for; this module fills
the run's window into the request and reports failures by source and entity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from caravan.sources import Delivered, SourceError, configure_dlt
from caravan.sources.registry import EntitySpec, SourceSpec
from caravan.sources.window import Window, fill

# A 30% storm of 429/5xx leaves 0.3^10 ≈ 6e-6 of requests failing every attempt.
REQUEST_MAX_ATTEMPTS = 10
REQUEST_BACKOFF_FACTOR = 0.5
REQUEST_MAX_RETRY_DELAY_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class RestConnection:
    """What a `rest_api` source needs from its Airflow connection: host = API base URL,
    password = token or key, login = user (basic auth), extra = values for placeholders."""

    base_url: str
    secret: str | None = field(default=None, repr=False)
    login: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold keys

    @classmethod
    def from_connection(cls, conn: Any) -> RestConnection:
        if not conn.host:
            raise ValueError(f"connection {conn.conn_id!r}: host (the API's base URL) is empty")
        host = conn.host if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
        url = urlsplit(host)
        if conn.port and url.port is None:
            host = urlunsplit(url._replace(netloc=f"{url.netloc}:{conn.port}"))
        return cls(host.rstrip("/"), conn.password or None, conn.login or None, conn.extra_dejson)


def deliveries(
    source: SourceSpec, entity: EntitySpec, connection: RestConnection, window: Window
) -> Iterator[Delivered]:
    """Every record the endpoint returns for the window, page after page; with
    `client.for_each`, once per value of a list in the connection's extra."""
    configure_dlt()
    from dlt.sources.rest_api import rest_api_resources

    where = f"{source.name}/{entity.name}"
    scalars = {k: str(v) for k, v in connection.extra.items() if isinstance(v, str | int)}
    for binding in _fan_out(source, connection):
        values = {**scalars, **binding, **window.placeholders()}
        endpoint = _literal_braces(fill(entity.endpoint, values, f"{where}: endpoint"))
        config = {
            "client": _client(source, connection, values, where),
            "resources": [{"name": entity.name, "endpoint": endpoint}],
        }
        (resource,) = rest_api_resources(config)
        request = f"{endpoint.get('method', 'GET')} {connection.base_url}/{endpoint['path']}"
        count = 0
        try:
            for record in resource:
                count += 1
                yield Delivered(record, f"{request} record {count}")
        except Exception as error:  # dlt wraps what the HTTP client raised
            raise SourceError(f"{where}: {request} failed: {_describe(error)}") from error


def _fan_out(source: SourceSpec, connection: RestConnection) -> list[dict[str, str]]:
    """`for_each: {account_id: account_ids}` → one binding per value of extra.account_ids."""
    for_each = source.client.get("for_each") or {}
    if not for_each:
        return [{}]
    ((name, extra_key),) = for_each.items()
    values = connection.extra.get(extra_key)
    if not values or not isinstance(values, list):
        raise ValueError(
            f"{source.name}: connection {source.conn_id!r} needs extra {extra_key!r}"
            f" (a list) for client.for_each"
        )
    return [{name: str(value)} for value in values]


def _client(
    source: SourceSpec, connection: RestConnection, values: dict[str, str], where: str
) -> dict:
    from dlt.sources.helpers.requests import Client

    session = Client(
        request_timeout=REQUEST_TIMEOUT_SECONDS,
        raise_for_status=False,  # dlt's REST client raises itself, after its retries
        request_max_attempts=REQUEST_MAX_ATTEMPTS,
        request_backoff_factor=REQUEST_BACKOFF_FACTOR,
        request_max_retry_delay=REQUEST_MAX_RETRY_DELAY_SECONDS,
    ).session
    client: dict[str, Any] = {"base_url": connection.base_url + "/", "session": session}
    headers = source.client.get("headers")
    if headers:
        client["headers"] = fill(headers, values, f"{where}: client.headers")
    if source.client.get("paginator"):
        client["paginator"] = source.client["paginator"]
    auth = _auth(source.client.get("auth"), connection, where)
    if auth:
        client["auth"] = auth
    return client


def _auth(spec: Any, connection: RestConnection, where: str) -> dict | None:
    """The registry names the scheme; the secret comes from the connection only."""
    if not spec:
        return None
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    if not connection.secret:
        raise ValueError(f"{where}: auth {spec['type']!r} needs the connection's password")
    if spec["type"] == "bearer":
        return {"type": "bearer", "token": connection.secret}
    if spec["type"] == "api_key":
        return {**spec, "api_key": connection.secret}
    if spec["type"] == "http_basic":
        return {"type": "http_basic", "username": connection.login, "password": connection.secret}
    raise ValueError(f"{where}: auth type {spec['type']!r} is not bearer, api_key or http_basic")


def _literal_braces(value: Any) -> Any:
    """dlt reads `{...}` in requests as its own expressions; ours are already filled, so
    any brace left (a JSON-valued parameter) is literal."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, dict):
        return {key: _literal_braces(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_literal_braces(item) for item in value]
    return value


def _describe(error: BaseException) -> str:
    """The HTTP status and the API's own message when the cause is an HTTP error."""
    import requests

    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, requests.HTTPError):
        cause = cause.__cause__ or cause.__context__
    if cause is None or cause.response is None:
        return str(error)
    response = cause.response
    return f"HTTP {response.status_code}: {_api_message(response)}"


def _api_message(response: Any) -> str:
    """Google and Meta nest the message under `error`; HubSpot puts it at the top."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    return response.text[:200]

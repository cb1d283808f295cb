"""The `rest_api` kind: dlt's REST API source, configured by the registry.

dlt brings the mechanics (paginators, auth, retries with backoff that honour
Retry-After on 429/5xx); the registry says what to ask for; this module fills
the run's window into the request and reports failures by source and entity.

An `open_ended` entity's API bounds only the window's start (GitHub's `since`): records
whose incremental_field falls outside the window are not this run's, so they are left
out here (and counted in the log) rather than failing the raw gate's window check; the
run of their own day delivers them. A record whose field is missing or not of its type
is still delivered, for staging to quarantine.

A failure's message carries the API's own words, with the connection's secrets and
anything shaped like a credential (`Bearer …`, `token=…`) replaced by `***`, cut to
MAX_ERROR_BODY_CHARS: APIs echo what they were sent. An answer no retry can change
(401, 403, 404, 405, 410) is a PermanentSourceError; dlt retries only 429 and 5xx.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from caravan.sources import Delivered, PermanentSourceError, SourceError, configure_dlt
from caravan.sources.fields import TypeMismatch
from caravan.sources.ingest import field_value
from caravan.sources.registry import EntitySpec, SourceSpec
from caravan.sources.window import Window, fill

log = logging.getLogger(__name__)

# A 30% storm of 429/5xx leaves 0.3^10 ≈ 6e-6 of requests failing every attempt.
REQUEST_MAX_ATTEMPTS = 10
REQUEST_BACKOFF_FACTOR = 0.5
REQUEST_MAX_RETRY_DELAY_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 60
# dlt's own default, said here: what a retry may change (throttling, a server's fault).
RETRIED_HTTP_STATUSES = (429, *range(500, 600))
# The credentials are refused or what was asked does not exist: the same on every retry.
PERMANENT_HTTP_STATUSES = frozenset({401, 403, 404, 405, 410})
MAX_ERROR_BODY_CHARS = 500
REDACTED = "***"
# Extra keys whose values are secrets (as Airflow's masker reads a connection's extra).
_SECRET_KEY = re.compile(
    r"token|secret|passw|api_?key|apikey|access_?key|private_?key|authorization|credential",
    re.IGNORECASE,
)
# Credentials by their shape, whoever's they are: an auth scheme and its token, and a
# named value (`token=…`, `"access_token": "…"`, `X-Api-Key: …`).
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/-]{8,}=*")
_NAMED_SECRET = re.compile(
    r"(?i)([\w-]*(?:token|secret|passw(?:or)?d|api[_-]?key|apikey|access[_-]?key|private[_-]?key)"
    r"[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"'&,;}]+)"  # a quoted value whole
)


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
        count = outside = 0
        try:
            for record in resource:
                count += 1
                if entity.open_ended and not in_window(record, entity, window):
                    outside += 1
                    continue
                yield Delivered(record, f"{request} record {count}")
        except Exception as error:  # dlt wraps what the HTTP client raised
            secrets = connection_secrets(connection)
            status, description = _describe(error, secrets)
            message = redact(f"{where}: {request} failed: {description}", secrets)
            if status in PERMANENT_HTTP_STATUSES:
                raise PermanentSourceError(message) from error
            raise SourceError(message) from error
        if outside:
            log.info(
                "%s ds=%s: %d of %d records from %s have %s outside %s..%s (open_ended):"
                " left to the runs of their own days",
                where,
                window.ds,
                outside,
                count,
                request,
                entity.incremental_field,
                window.first_day,
                window.last_day,
            )


def in_window(record: Any, entity: EntitySpec, window: Window) -> bool:
    """Whether the record's incremental_field falls on a day of the window; a record
    without a readable value counts as inside, so that staging quarantines it."""
    name = entity.incremental_field
    if not name or not isinstance(record, dict):
        return True
    try:
        value = entity.types[name].parse(field_value(record, name))
    except TypeMismatch:
        return True
    if value is None:
        return True
    day = value.date() if hasattr(value, "date") else value
    return window.first_day <= day <= window.last_day


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
        status_codes=RETRIED_HTTP_STATUSES,
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


def _describe(error: BaseException, secrets: list[str]) -> tuple[int | None, str]:
    """The HTTP status (None without an answer) and what went wrong: the status and the
    API's own message when the cause is an HTTP error; redacted, then cut."""
    import requests

    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, requests.HTTPError):
        cause = cause.__cause__ or cause.__context__
    if cause is None or cause.response is None:
        return None, _bounded(redact(str(error), secrets))
    response = cause.response
    message = _bounded(redact(_api_message(response), secrets))
    return response.status_code, f"HTTP {response.status_code}: {message}"


def _api_message(response: Any) -> str:
    """Google and Meta nest the message under `error`; HubSpot puts it at the top; else
    the body as it came."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    return response.text


def _bounded(text: str) -> str:
    """The first MAX_ERROR_BODY_CHARS characters, saying how many more there were. Only
    redacted text is cut: cut first, a secret straddling the cut would keep its head."""
    if len(text) <= MAX_ERROR_BODY_CHARS:
        return text
    cut = len(text) - MAX_ERROR_BODY_CHARS
    return f"{text[:MAX_ERROR_BODY_CHARS]}… ({cut} more characters cut)"


def connection_secrets(connection: RestConnection) -> list[str]:
    """The connection's secrets: its password (token, key) and the values of extra keys
    named like secrets (`developer_token`, `api_key`, ...)."""
    found = [connection.secret or ""]
    found += [
        str(value)
        for key, value in connection.extra.items()
        if _SECRET_KEY.search(str(key)) and isinstance(value, str | int)
    ]
    return [secret for secret in found if secret]


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret (as is and URL-encoded) and every credential-shaped value
    replaced by `***`."""
    variants = {form for secret in secrets for form in (secret, quote(secret, safe=""))}
    for secret in sorted(variants, key=len, reverse=True):  # a longer one may hold a shorter
        text = text.replace(secret, REDACTED)
    text = _SCHEME_TOKEN.sub(rf"\1\2{REDACTED}", text)
    return _NAMED_SECRET.sub(_redact_named, text)


def _redact_named(match: re.Match) -> str:
    value = match[2]
    quote_mark = value[0] if value[0] in "\"'" else ""
    return f"{match[1]}{quote_mark}{REDACTED}{quote_mark}"

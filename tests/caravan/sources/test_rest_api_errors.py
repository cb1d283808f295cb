"""How a `rest_api` source fails: a refusal (401, 404) fails at once, with the API's words
redacted and cut; a server's fault (503) is retried and the read goes on. Read over real
HTTP from a small API server written here, which answers each path as scripted and
counts what it was asked; and at the Airflow edge, the ingest DAG's extract task turns a
permanent error into AirflowFailException (no retry).

Expected messages are written out by hand from what the server answers.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from airflow.sdk import Connection

from caravan.sources import PermanentSourceError, SourceError
from caravan.sources.extract import deliveries
from caravan.sources.registry import SourceSpec, load_registry
from caravan.sources.rest_api import RestConnection, connection_secrets, redact
from tests.dags.test_dag_integrity import environ, run_probe

REPO = Path(__file__).resolve().parents[3]
DS = "2026-03-05"
TOKEN = "s3cr3t-token-0123456789abcdef"
TAIL = "z" * 600  # a long body, to be cut

REGISTRY = """\
api:
  kind: rest_api
  conn_id: api_default
  client: {auth: bearer, paginator: single_page}
  entities:
    refused:
      endpoint: {path: v1/refused, data_selector: items}
      primary_key: id
    missing:
      endpoint: {path: v1/missing, data_selector: items}
      primary_key: id
    flaky:
      endpoint: {path: v1/flaky, data_selector: items}
      primary_key: id
"""


@dataclass
class Api:
    """What the server was asked: (path, status answered) in order."""

    url: str
    asked: list[tuple[str, int]] = field(default_factory=list)

    def statuses(self, path: str) -> list[int]:
        return [status for asked, status in self.asked if asked == path]


def answer(api: Api, path: str, authorization: str) -> tuple[int, str, str]:
    """(status, content type, body) for a request; `/v1/flaky` fails its first request."""
    if path == "/v1/refused":  # echoes the credentials it was sent, as some APIs do
        message = f"bad credentials [{authorization}] token={TOKEN} {TAIL}"
        return 401, "application/json", json.dumps({"error": {"message": message}})
    if path == "/v1/missing":
        return 404, "text/plain", "no such path: /v1/missing"
    if path == "/v1/flaky" and not api.statuses(path):
        return 503, "text/plain", "down for maintenance"
    if path == "/v1/flaky":
        return 200, "application/json", json.dumps({"items": [{"id": 1}, {"id": 2}]})
    return 400, "text/plain", "unexpected path"


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = answer(
                state, self.path, self.headers.get("Authorization", "")
            )
            state.asked.append((self.path, status))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def source(tmp_path) -> SourceSpec:
    path = tmp_path / "sources.yaml"
    path.write_text(REGISTRY)
    return load_registry(path)["api"]


def read(api: Api, source: SourceSpec, entity: str) -> list:
    conn = Connection(conn_id="api_default", conn_type="http", host=api.url, password=TOKEN)
    return list(deliveries(source, source.entities[entity], conn, DS))


def test_a_401_fails_at_once_naming_source_entity_and_status_with_the_body_redacted_and_cut(
    api, source
):
    with pytest.raises(PermanentSourceError) as raised:
        read(api, source, "refused")

    # The body's message: "bad credentials [Bearer <token>] token=<token> " (39 characters
    # once redacted) and 600 z's: 639, of which the first 500 are shown.
    assert str(raised.value) == (
        f"api/refused: GET {api.url}/v1/refused failed: HTTP 401: "
        "bad credentials [Bearer ***] token=*** " + "z" * 461 + "… (139 more characters cut)"
    )
    assert TOKEN not in str(raised.value)
    assert api.asked == [("/v1/refused", 401)]  # asked once: dlt does not retry a refusal


def test_a_404_fails_at_once_with_the_apis_text(api, source):
    with pytest.raises(PermanentSourceError) as raised:
        read(api, source, "missing")

    assert str(raised.value) == (
        f"api/missing: GET {api.url}/v1/missing failed: HTTP 404: no such path: /v1/missing"
    )
    assert api.asked == [("/v1/missing", 404)]


def test_a_503_is_retried_and_the_read_goes_on(api, source):
    records = [d.record for d in read(api, source, "flaky")]

    assert records == [{"id": 1}, {"id": 2}]
    assert api.asked == [("/v1/flaky", 503), ("/v1/flaky", 200)]


def test_a_permanent_error_is_still_a_source_error():
    # Callers that catch SourceError (the runner, the benchmarks) keep catching it.
    assert issubclass(PermanentSourceError, SourceError)


# -- redaction -------------------------------------------------------------------------------


def test_the_connections_secrets_are_its_password_and_its_extras_named_like_secrets():
    conn = RestConnection(
        "https://api.example.com",
        TOKEN,
        "me",
        {"customer_id": "123", "developer_token": "dev-token-xyz", "account_ids": ["1", "2"]},
    )
    assert connection_secrets(conn) == [TOKEN, "dev-token-xyz"]
    assert connection_secrets(RestConnection("https://api.example.com")) == []


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        # The connection's secret, wherever it is, as is and URL-encoded.
        (f"token {TOKEN} is unknown", "token *** is unknown"),
        ("key a+b/c== refused; sent a%2Bb%2Fc%3D%3D", "key *** refused; sent ***"),
        # Credentials by their shape, whoever's they are.
        ("Authorization: Bearer sk-other-0123456789", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ***"),
        ("GET /x?access_token=abc123&page=2", "GET /x?access_token=***&page=2"),
        ('{"api_key": "k-1", "password":"p w"}', '{"api_key": "***", "password":"***"}'),
        ("secret='a b' next", "secret='***' next"),
        ("X-Api-Key: kkk", "X-Api-Key: ***"),
        # Words about credentials are no credentials.
        (
            "The access token provided is invalid or expired.",
            "The access token provided is invalid or expired.",
        ),
        ("Missing developer-token header", "Missing developer-token header"),
        ("Invalid bearer token", "Invalid bearer token"),
    ],
)
def test_redact(text, redacted):
    assert redact(text, [TOKEN, "a+b/c=="]) == redacted


# -- at the Airflow edge ---------------------------------------------------------------------

# Runs in a fresh interpreter: parse a copy of dags/ingest.py, then call each ingest DAG's
# extract task as Airflow would, with the run's conf, and report what it raised.
PROBE = textwrap.dedent(
    """
    import json, sys, types

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    out = {"errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "runs": {}}
    for dag_id in sys.argv[3].split(","):
        extract = bag.dags[dag_id].get_task("extract").python_callable
        run = types.SimpleNamespace(conf={"ds": sys.argv[2]}, run_id="probe")
        try:
            staged = extract(dag_run=run)
        except Exception as error:
            out["runs"][dag_id] = {
                "raised": f"{type(error).__module__}.{type(error).__qualname__}",
                "cause": type(error.__cause__).__qualname__,
                "message": str(error),
            }
        else:
            out["runs"][dag_id] = {"staged": [(s["entity"], s["rows"]) for s in staged]}
    print("PROBE " + json.dumps(out))
    """
)
EDGE_REGISTRY = """\
refused:
  kind: rest_api
  conn_id: edge_default
  client: {auth: bearer, paginator: single_page}
  entities:
    things:
      endpoint: {path: v1/refused, data_selector: items}
      primary_key: id
flaky:
  kind: rest_api
  conn_id: edge_default
  client: {auth: bearer, paginator: single_page}
  entities:
    things:
      endpoint: {path: v1/flaky, data_selector: items}
      primary_key: id
"""


def test_the_extract_task_fails_a_refusal_without_retries_and_reads_through_a_503(api, tmp_path):
    dags = tmp_path / "project" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO / "dags" / "ingest.py", dags)
    (dags / "sources.yaml").write_text(EDGE_REGISTRY)
    env = environ(tmp_path / "home")
    env["CARAVAN_PROJECT_DIR"] = str(tmp_path / "project")
    env["AIRFLOW_CONN_EDGE_DEFAULT"] = json.dumps(
        {"conn_type": "http", "host": api.url, "password": TOKEN}
    )

    parsed = run_probe(PROBE, [str(dags), DS, "ingest_refused,ingest_flaky"], env, tmp_path)

    assert parsed["errors"] == {}
    refused = parsed["runs"]["ingest_refused"]
    # AirflowFailException: Airflow fails the task at once, whatever its retries.
    assert refused["raised"] == "airflow.sdk.exceptions.AirflowFailException"
    assert refused["cause"] == "PermanentSourceError"
    assert refused["message"] == (
        f"refused/things: GET {api.url}/v1/refused failed: HTTP 401: "
        "bad credentials [Bearer ***] token=*** " + "z" * 461 + "… (139 more characters cut)"
        " (permanent: not retried)"
    )
    assert parsed["runs"]["ingest_flaky"] == {"staged": [["things", 2]]}
    assert api.asked == [("/v1/refused", 401), ("/v1/flaky", 503), ("/v1/flaky", 200)]

"""Helpers for the enrichment tests: a temp lake with hand-made typed copies, settings
pointing at it (and at the test's OpenAI-compatible server), and a responder that answers
with labels the test wrote down for each id."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from caravan.lake import Lake, Partition
from caravan.settings import Settings

REVIEW_SCHEMA = pa.schema(
    [
        ("review_id", pa.string()),
        ("order_id", pa.string()),
        ("product_id", pa.string()),
        ("customer_id", pa.string()),
        ("rating", pa.int64()),
        ("title", pa.string()),
        ("body", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def settings_for(
    home: Path, server=None, *, budget: int | None = None, model: str | None = None
) -> Settings:
    """Settings on a lake under `home`: offline without a server, else the server's."""
    env = {"CARAVAN_HOME": str(home)}
    if server is not None:
        env |= {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": server.base_url}
    if budget is not None:
        env["CARAVAN_ENRICH_TOKEN_BUDGET"] = str(budget)
    if model is not None:
        env["CARAVAN_OPENAI_MODEL"] = model
    return Settings.from_env(env)


def review(review_id: str, title: str, body: str, rating: int = 3) -> dict:
    return {
        "review_id": review_id,
        "order_id": f"o-{review_id}",
        "product_id": "p-1",
        "customer_id": "c-1",
        "rating": rating,
        "title": title,
        "body": body,
        "created_at": None,
        "updated_at": None,
    }


ISSUE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("number", pa.int64()),
        ("title", pa.string()),
        ("body", pa.string()),
        ("state", pa.string()),
        ("labels", pa.string()),  # JSON text, as landing types an array
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def write_typed_copy(
    settings: Settings,
    ds: str,
    rows: list[dict],
    *,
    source: str = "shop_db",
    entity: str = "reviews",
    schema: pa.Schema = REVIEW_SCHEMA,
) -> None:
    """Publish `curated/<source>/<entity>/ds=…` as landing.write_typed does: staged
    Parquet, then the lake's publish with its manifest last."""
    lake = Lake(settings.lake_url)
    partition = Partition("curated", source, entity, ds)
    table = pa.Table.from_pylist(rows, schema)
    folder = lake.staging_path(partition)
    lake.fs.makedirs(folder, exist_ok=True)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    path = f"{folder}/part-00000.parquet"
    lake.fs.pipe_file(path, buffer.getvalue())
    lake.publish(
        partition,
        [(path, table.num_rows)],
        run_id="landing-run",
        delivered=table.num_rows,
        quarantined=0,
        schema={field.name: str(field.type) for field in table.schema},
        producer="caravan.landing",
    )


def asked_texts(request: dict) -> list[dict]:
    """The texts a labelling request sent: [{"id", "text"}] from its user message."""
    user = next(m for m in request["messages"] if m["role"] == "user")
    return json.loads(user["content"])["texts"]


def asked_ids(request: dict) -> list[str]:
    return [text["id"] for text in asked_texts(request)]


def answering(truth: dict[str, tuple[str, list[str], str]]):
    """A responder labelling each id asked with `truth[id]` = (sentiment, topics, language)."""

    def responder(request: dict) -> str:
        labels = [
            {"id": i, "sentiment": truth[i][0], "topics": truth[i][1], "language": truth[i][2]}
            for i in asked_ids(request)
        ]
        return json.dumps({"labels": labels})

    return responder


def read_partition(settings: Settings, zone: str, dataset: str, ds: str) -> tuple[dict, list]:
    """(manifest as JSON, rows) of a published partition, read from the files on disk."""
    root = Path(settings.lake_url.removeprefix("file://"))
    folder = root / zone / "enrichment" / dataset / f"ds={ds}"
    manifest = json.loads((folder / "_manifest.json").read_text())
    rows = []
    for entry in manifest["files"]:
        rows += pq.read_table(folder / entry["path"]).to_pylist()
    return manifest, rows

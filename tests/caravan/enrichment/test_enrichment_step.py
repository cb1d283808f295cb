"""The enrichment step on a temp lake: a hand-made typed copy in, the published labels
partition, its manifest, the quarantine, the cache and the backlog out; the model is the
OpenAI-compatible server of tests/openai_server.py, reached by the real client."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from caravan.enrichment import offline
from caravan.enrichment.labels import PROMPT_VERSION
from caravan.enrichment.model import ModelUnavailable
from caravan.enrichment.step import enrich_partition, label_partition, publish_partition
from caravan.lake import Lake, Partition
from tests.caravan.enrichment.support import (
    ISSUE_SCHEMA,
    answering,
    asked_ids,
    read_partition,
    review,
    settings_for,
    write_typed_copy,
)
from tests.openai_server import CHAT_PATH, OpenAIServer

DS1, DS2 = "2026-03-01", "2026-03-02"
SERVED = "gpt-4o-mini-2024-07-18"


def sha(title: str, body: str) -> str:
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {row["review_id"]: row for row in rows}


def test_offline_labels_stage_then_publish(tmp_path: Path):
    settings = settings_for(tmp_path)  # no API key: offline
    write_typed_copy(
        settings,
        DS1,
        [
            review("r1", "Not good", "The stitching came apart after one wash.", rating=5),
            review("r2", "Parfait", "Le colis est arrivé vite, très bon prix.", rating=1),
            review("r3", "", ""),  # no text: quarantined
        ],
    )
    summary = label_partition(settings, "reviews", DS1, "run-1")
    lake = Lake(settings.lake_url)
    labels = Partition("curated", "enrichment", "review_labels", DS1)
    assert lake.read_manifest(labels) is None  # staged, not visible before publish
    publish_partition(settings, "review_labels", DS1, "run-1")

    manifest, rows = read_partition(settings, "curated", "review_labels", DS1)
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (3, 2, 1)
    assert manifest["producer"] == "caravan.enrichment"
    # By hand: r1 "not" flips good → negative (the rating 5 is not an input); stitching,
    # wash: quality. r2 parfait +1, bon +1 → positive; colis: shipping, prix: price (a tie:
    # vocabulary order); le, est, très: fr.
    assert by_key(rows) == {
        "r1": {
            "review_id": "r1",
            "sentiment": "negative",
            "topics": "quality",
            "primary_topic": "quality",
            "language": "en",
            "labelled_by": "offline",
            "prompt_version": offline.VERSION,
            "text_sha256": sha("Not good", "The stitching came apart after one wash."),
            "source_ds": date(2026, 3, 1),
        },
        "r2": {
            "review_id": "r2",
            "sentiment": "positive",
            "topics": "shipping,price",
            "primary_topic": "shipping",
            "language": "fr",
            "labelled_by": "offline",
            "prompt_version": offline.VERSION,
            "text_sha256": sha("Parfait", "Le colis est arrivé vite, très bon prix."),
            "source_ds": date(2026, 3, 1),
        },
    }
    quarantine_manifest, quarantined = read_partition(settings, "quarantine", "review_labels", DS1)
    assert quarantine_manifest["rows"] == 1
    assert quarantined[0]["review_id"] == "r3"
    assert "fields title and body are empty" in quarantined[0]["reason"]
    assert summary | {"labelled_by": None} == {
        "kind": "reviews",
        "dataset": "review_labels",
        "ds": DS1,
        "run_id": "run-1",
        "records": 3,
        "from_backlog": 0,
        "labelled": 2,
        "from_cache": 0,
        "model_calls": 0,
        "tokens": 0,
        "deferred": 0,
        "quarantined": 1,
        "labelled_by": None,
        "prompt_version": offline.VERSION,
    }
    assert summary["labelled_by"] == ["offline"]

    # It loads the way the warehouse loads curated partitions: `ds` added, topics as text.
    folder = tmp_path / "lake/curated/enrichment/review_labels" / f"ds={DS1}"
    loaded = duckdb.sql(
        f"select review_id, topics, typeof(topics), cast('{DS1}' as date) as ds"
        f" from read_parquet('{folder}/*.parquet', hive_partitioning = false)"
        " order by review_id"
    ).fetchall()
    assert loaded == [
        ("r1", "quality", "VARCHAR", date(2026, 3, 1)),
        ("r2", "shipping,price", "VARCHAR", date(2026, 3, 1)),
    ]

    # A rerun replaces the partition whole, with the same labels.
    write_typed_copy(settings, DS1, [review("r1", "Not good", "Torn.")])
    enrich_partition(settings, "reviews", DS1, "run-2")
    manifest, rows = read_partition(settings, "curated", "review_labels", DS1)
    assert [row["review_id"] for row in rows] == ["r1"]
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (1, 1, 0)
    assert not (tmp_path / "lake/quarantine/enrichment/review_labels" / f"ds={DS1}").exists()


TRUTH = {
    "r1": ("negative", ["shipping"], "en"),
    "r2": ("positive", ["quality", "price"], "de"),
    "r3": ("neutral", [], "es"),
    "b1": ("negative", ["shipping"], "en"),
}
TEXTS = {
    "r1": ("Late", "Arrived two weeks late."),
    "r2": ("Super Qualität", "Guter Stoff, fairer Preis."),
    "r3": ("Ok", "Ok."),
    "r4": ("Ok", "Ok."),  # the same text as r3: asked once, labelled alike
}


def test_model_labels_are_cached_a_rerun_and_a_backfill_make_no_calls(tmp_path: Path):
    with OpenAIServer(answering(TRUTH)) as server:
        settings = settings_for(tmp_path, server)
        write_typed_copy(settings, DS1, [review(k, *text) for k, text in TEXTS.items()])
        first = enrich_partition(settings, "reviews", DS1, "run-1", batch_size=2)
        # Distinct texts r1, r2, r3 (r4 repeats r3): 2 per request → 2 requests.
        assert [asked_ids(r.body) for r in server.requests_to(CHAT_PATH)] == [
            ["r1", "r2"],
            ["r3"],
        ]
        _, rows = read_partition(settings, "curated", "review_labels", DS1)

        server.reset()
        rerun = enrich_partition(settings, "reviews", DS1, "run-2", batch_size=2)
        _, rows_again = read_partition(settings, "curated", "review_labels", DS1)

        # A backfill of another day with the same texts under other ids: no calls either.
        write_typed_copy(settings, DS2, [review("b1", *TEXTS["r1"])])
        backfill = enrich_partition(settings, "reviews", DS2, "run-3", batch_size=2)
        assert server.count(CHAT_PATH) == 0
        _, backfilled = read_partition(settings, "curated", "review_labels", DS2)

    expected = {
        key: (TRUTH[source][0], ",".join(TRUTH[source][1]), TRUTH[source][2])
        for key, source in {"r1": "r1", "r2": "r2", "r3": "r3", "r4": "r3"}.items()
    }
    labelled = {
        row["review_id"]: (row["sentiment"], row["topics"], row["language"]) for row in rows
    }
    assert labelled == expected
    assert {row["labelled_by"] for row in rows} == {SERVED}
    assert {row["prompt_version"] for row in rows} == {PROMPT_VERSION}
    assert rows_again == rows
    assert (first["model_calls"], first["from_cache"], first["labelled"]) == (2, 0, 4)
    assert (rerun["model_calls"], rerun["from_cache"], rerun["tokens"]) == (0, 4, 0)
    assert backfill["model_calls"] == 0 and backfill["from_cache"] == 1
    b1 = backfilled[0]
    assert (b1["review_id"], b1["sentiment"], b1["topics"]) == ("b1", "negative", "shipping")
    assert b1["text_sha256"] == rows[0]["text_sha256"] == sha(*TEXTS["r1"])
    # One cache file per paying run, none for the runs that paid nothing.
    assert len(list((tmp_path / "lake/cache/enrichment/reviews").glob("*.parquet"))) == 1


def test_the_budget_defers_to_the_backlog_which_the_next_run_labels_first(tmp_path: Path):
    truth = {f"r{n}": ("neutral", ["sizing"], "en") for n in range(1, 8)}
    usage = {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000}

    def costly(request):
        return {"message": {"content": answering(truth)(request)}, "usage": usage}

    with OpenAIServer(costly) as server:
        # 1000 tokens per answer; 2400 pays for two 2-text requests, not a third
        # (test_enrichment_model.test_the_budget_defers_the_rest_in_order checks the bounds).
        tight = settings_for(tmp_path, server, budget=2400)
        write_typed_copy(
            tight, DS1, [review(f"r{n}", f"Title {n}", f"Body {n}") for n in range(1, 6)]
        )
        first = enrich_partition(tight, "reviews", DS1, "run-1", batch_size=2)
        manifest1, rows1 = read_partition(tight, "curated", "review_labels", DS1)

        server.reset()
        roomy = settings_for(tmp_path, server)
        write_typed_copy(roomy, DS2, [review(f"r{n}", f"Title {n}", f"Body {n}") for n in (6, 7)])
        second = enrich_partition(roomy, "reviews", DS2, "run-2", batch_size=2)
        asked = [asked_ids(r.body) for r in server.requests_to(CHAT_PATH)]
        manifest2, rows2 = read_partition(roomy, "curated", "review_labels", DS2)

    assert [row["review_id"] for row in rows1] == ["r1", "r2", "r3", "r4"]
    assert (manifest1["delivered"], manifest1["rows"], manifest1["quarantined"]) == (4, 4, 0)
    assert (first["deferred"], first["tokens"], first["model_calls"]) == (1, 2000, 2)
    assert asked == [["r5", "r6"], ["r7"]]  # the backlog first
    assert [(row["review_id"], row["source_ds"]) for row in rows2] == [
        ("r5", date(2026, 3, 1)),
        ("r6", date(2026, 3, 2)),
        ("r7", date(2026, 3, 2)),
    ]
    assert (manifest2["delivered"], manifest2["rows"]) == (3, 3)
    assert (second["from_backlog"], second["deferred"], second["records"]) == (1, 0, 2)
    import pyarrow.parquet as pq

    backlog = tmp_path / "lake/backlog/enrichment/review_labels/backlog.parquet"
    assert pq.read_table(backlog).num_rows == 0


def test_malformed_answers_quarantine_their_records_until_a_rerun_labels_them(tmp_path: Path):
    truth = {
        "r1": ("positive", [], "en"),
        "r2": ("negative", [], "en"),
        "r3": ("neutral", [], "en"),
    }
    with OpenAIServer(answering(truth)) as server:
        settings = settings_for(tmp_path, server)
        write_typed_copy(settings, DS1, [review(k, k, f"text {k}") for k in truth])
        server.malformed_next(3, content="I cannot answer in JSON today.")
        summary = enrich_partition(settings, "reviews", DS1, "run-1", batch_size=2)
        manifest, rows = read_partition(settings, "curated", "review_labels", DS1)
        _, quarantined = read_partition(settings, "quarantine", "review_labels", DS1)

        server.reset()
        enrich_partition(settings, "reviews", DS1, "run-2", batch_size=2)
        asked = [asked_ids(r.body) for r in server.requests_to(CHAT_PATH)]
        manifest_again, rows_again = read_partition(settings, "curated", "review_labels", DS1)

    assert [row["review_id"] for row in rows] == ["r3"]
    assert (manifest["delivered"], manifest["rows"], manifest["quarantined"]) == (3, 1, 2)
    assert summary["quarantined"] == 2 and summary["model_calls"] == 4
    assert sorted(row["review_id"] for row in quarantined) == ["r1", "r2"]
    assert all("not valid JSON" in row["reason"] for row in quarantined)
    assert (
        quarantined[0]["text"]
        == f"{quarantined[0]['review_id']}\n\ntext {quarantined[0]['review_id']}"
    )
    # The rerun asks only for what was not cached, and the quarantine is gone.
    assert asked == [["r1", "r2"]]
    assert [row["review_id"] for row in rows_again] == ["r1", "r2", "r3"]
    assert (manifest_again["delivered"], manifest_again["quarantined"]) == (3, 0)
    assert not (tmp_path / "lake/quarantine/enrichment/review_labels" / f"ds={DS1}").exists()


def test_a_model_down_fails_the_run_but_keeps_what_it_paid_for(tmp_path: Path):
    truth = {f"r{n}": ("neutral", [], "en") for n in range(1, 5)}
    with OpenAIServer(answering(truth)) as server:
        settings = settings_for(tmp_path, server)
        write_typed_copy(settings, DS1, [review(k, k, f"text {k}") for k in truth])
        original = server.responder

        def answer_then_go_down(request):
            server.fail_next(10, 503, retry_after_ms=5)  # every request after this one
            return original(request)

        server.responder = answer_then_go_down
        with pytest.raises(ModelUnavailable, match="reviews ids r3..r4"):
            enrich_partition(settings, "reviews", DS1, "run-1", batch_size=2, max_retries=1)
        assert (
            Lake(settings.lake_url).read_manifest(
                Partition("curated", "enrichment", "review_labels", DS1)
            )
            is None
        )

        server.reset()
        server.responder = original
        summary = enrich_partition(settings, "reviews", DS1, "run-2", batch_size=2)
        asked = [asked_ids(r.body) for r in server.requests_to(CHAT_PATH)]
    assert asked == [["r3", "r4"]]
    assert (summary["from_cache"], summary["labelled"]) == (2, 4)


def test_a_partition_not_published_is_a_named_error(tmp_path: Path):
    settings = settings_for(tmp_path)
    with pytest.raises(FileNotFoundError, match="curated/shop_db/reviews/ds=2026-03-01"):
        enrich_partition(settings, "reviews", DS1, "run-1")


def test_summary_is_json(tmp_path: Path):
    settings = settings_for(tmp_path)
    write_typed_copy(settings, DS1, [review("r1", "Fine", "Fine.")])
    assert json.loads(json.dumps(enrich_partition(settings, "reviews", DS1, "r")))["labelled"] == 1


def test_issues_are_labelled_by_number(tmp_path: Path):
    settings = settings_for(tmp_path)
    issue = {"id": 9001, "state": "open", "labels": '[{"name": "bug"}]'}
    write_typed_copy(
        settings,
        DS1,
        [
            issue | {"number": 12, "title": "UTM tags missing", "body": "Events not tracked."},
            issue | {"number": 13, "title": "Dashboard export", "body": "Works, thanks!"},
        ],
        source="issue_tracker",
        entity="issues",
        schema=ISSUE_SCHEMA,
    )
    summary = enrich_partition(settings, "issue_labels", DS1, "run-1")
    manifest, rows = read_partition(settings, "curated", "issue_labels", DS1)
    # By hand: 12: missing -1; utm, tags, events, tracked: tracking 4, missing: data_quality 1.
    # 13: works +1, thanks +1; dashboard, export: reporting 2.
    assert [
        (row["issue_number"], row["sentiment"], row["topics"], row["language"]) for row in rows
    ] == [(12, "negative", "tracking,data_quality", "en"), (13, "positive", "reporting", "en")]
    assert manifest["schema"]["issue_number"] == "int64"
    assert summary["labelled"] == manifest["rows"] == 2


def test_a_typed_copy_without_the_key_is_a_named_error(tmp_path: Path):
    settings = settings_for(tmp_path)
    schema = ISSUE_SCHEMA.remove(ISSUE_SCHEMA.get_field_index("number"))
    write_typed_copy(
        settings,
        DS1,
        [{"id": 1, "title": "t", "body": "b"}],
        source="issue_tracker",
        entity="issues",
        schema=schema,
    )
    with pytest.raises(ValueError, match="issues/ds=2026-03-01: no field 'number'"):
        enrich_partition(settings, "issues", DS1, "run-1")

"""The label contract: texts, the strict schema, and the judgement of answers."""

from __future__ import annotations

import json

import pytest

from caravan.enrichment.labels import (
    KINDS,
    kind_of,
    response_format,
    text_of,
    text_sha256,
    validate_answer,
)

REVIEWS = KINDS["reviews"]


def entry(item_id, sentiment="positive", topics=("quality",), language="en", **extra):
    return {
        "id": item_id,
        "sentiment": sentiment,
        "topics": list(topics),
        "language": language,
        **extra,
    }


def answer(*entries) -> str:
    return json.dumps({"labels": list(entries)})


def test_text_is_title_blank_line_body():
    assert text_of({"title": " Too small ", "body": "Runs a size small."}) == (
        "Too small\n\nRuns a size small."
    )
    assert text_of({"title": None, "body": "Only a body"}) == "Only a body"
    assert text_of({"title": "", "body": None}) == ""
    assert text_sha256("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_kinds_by_name_and_dataset():
    assert kind_of("reviews") is kind_of("review_labels") is REVIEWS
    assert kind_of("issue_labels").key_column == "issue_number"
    with pytest.raises(KeyError, match="comments"):
        kind_of("comments")


def test_schema_is_strict_and_closed():
    schema = response_format(REVIEWS)["json_schema"]
    assert schema["strict"] is True
    label = schema["schema"]["properties"]["labels"]["items"]
    assert label["additionalProperties"] is False
    assert sorted(label["required"]) == ["id", "language", "sentiment", "topics"]
    assert label["properties"]["topics"]["items"]["enum"] == [
        "quality",
        "sizing",
        "shipping",
        "price",
        "customer_service",
    ]


def test_valid_answer_gives_every_label():
    verdict = validate_answer(
        REVIEWS,
        ["r1", "r2"],
        answer(entry("r2", "negative", ["shipping", "price"], "de"), entry("r1")),
    )
    assert verdict.problems == {}
    assert verdict.labels == {
        "r1": ("positive", ("quality",), "en"),
        "r2": ("negative", ("shipping", "price"), "de"),
    }


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"labels": [', "not valid JSON"),
        ("", "empty content"),
        ('{"labels": [], "note": "x"}', "only the key 'labels'"),
        ('{"labels": {"r1": 1}}', "field labels is not a list"),
        (answer(entry("r1"), entry("r9")), "names id 'r9', not sent"),
    ],
)
def test_an_unreadable_answer_fails_every_id(content, reason):
    verdict = validate_answer(REVIEWS, ["r1", "r2"], content)
    assert verdict.labels == {}
    assert set(verdict.problems) == {"r1", "r2"}
    assert all(reason in problem for problem in verdict.problems.values())


def test_each_record_is_judged_alone_naming_id_and_field():
    verdict = validate_answer(
        REVIEWS,
        ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
        answer(
            entry("r1"),
            entry("r2", topics=["delivery"]),
            entry("r3", sentiment="mixed"),
            entry("r4", language="english"),
            entry("r5", confidence=0.9),
            entry("r6"),
            entry("r6", "negative"),
        ),
    )
    assert verdict.labels == {"r1": ("positive", ("quality",), "en")}
    problems = verdict.problems
    assert set(problems) == {"r2", "r3", "r4", "r5", "r6", "r7"}
    assert "reviews id r2: field topics has ['delivery']" in problems["r2"]
    assert "reviews id r3: field sentiment is 'mixed'" in problems["r3"]
    assert "reviews id r4: field language is 'english'" in problems["r4"]
    assert "unexpected ['confidence']" in problems["r5"]
    assert "more than once" in problems["r6"]
    assert problems["r7"] == "reviews id r7: the answer has no labels for it"

"""Fault knobs: throttling, transient errors, slow answers, malformed and planted records.

Every decision is a pure function of the seed and a counter or a record key,
so a test that sets a rate sees the same faults on every run, and the ground
truth can name the malformed and planted records without serving anything.

Malformed records have the wrong shape: staging sends them to quarantine. Planted
records have the right shape and wrong values (a negative cost, a key served twice):
they pass staging and must fail the raw gate.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

# Status codes of transient faults and their weights: mostly throttling, as in real APIs.
TRANSIENT_STATUSES = (429, 500, 503)
TRANSIENT_WEIGHTS = (60, 20, 20)
RETRY_AFTER_SECONDS = 1

MISSING_ID = "missing_id"
WRONG_TYPE = "wrong_type"
BAD_JSON = "bad_json"
# An API answer is one JSON document, so only file lines can be broken JSON.
API_MALFORMATIONS = (MISSING_ID, WRONG_TYPE)
FILE_MALFORMATIONS = (MISSING_ID, WRONG_TYPE, BAD_JSON)
# What a wrong-typed field holds instead of its number or timestamp.
WRONG_VALUE = "N/A"

# Classes of planted records (Google Ads campaign_performance): a cost below zero, and a
# (campaign, date) row served twice, as a buggy paginator would.
NEGATIVE_COST = "negative_cost"
DUPLICATE_KEY = "duplicate_key"
PLANTED_CLASSES = (NEGATIVE_COST, DUPLICATE_KEY)
# Share of a day's rows planted (at least one row a day).
PLANT_SHARE = 0.4


@dataclass(frozen=True)
class Plant:
    """Plant records of class `kind` in every day from `first_day` on."""

    kind: str
    first_day: date
    share: float = PLANT_SHARE

    def __post_init__(self) -> None:
        if self.kind not in PLANTED_CLASSES:
            raise ValueError(
                f"planted class {self.kind!r}: expected one of {', '.join(PLANTED_CLASSES)}"
            )
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"plant share must be in (0, 1], got {self.share}")

    @classmethod
    def parse(cls, text: str, default_day: date) -> Plant:
        """`KIND` or `KIND@YYYY-MM-DD` (the command line's form); no day means `default_day`."""
        kind, _, day = text.partition("@")
        try:
            first_day = date.fromisoformat(day) if day else default_day
        except ValueError:
            raise ValueError(f"plant {text!r}: {day!r} is not a YYYY-MM-DD date") from None
        return cls(kind.strip(), first_day)


@dataclass(frozen=True)
class Faults:
    """The knobs; all zero (the default) means a well-behaved system."""

    fault_rate: float = 0.0
    slow_seconds: float = 0.0
    malformed_rate: float = 0.0
    plant: Plant | None = None

    def __post_init__(self) -> None:
        for name in ("fault_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.slow_seconds < 0:
            raise ValueError(f"slow_seconds must not be negative, got {self.slow_seconds}")


NO_FAULTS = Faults()


def request_fault(seed: int, source: str, request_number: int, rate: float) -> int | None:
    """The status to answer the n-th request with instead of its result, or None to serve it."""
    if rate <= 0:
        return None
    rng = random.Random(f"{seed}:{source}:request:{request_number}")
    if rng.random() >= rate:
        return None
    return rng.choices(TRANSIENT_STATUSES, TRANSIENT_WEIGHTS)[0]


def malformation(
    seed: int, rate: float, entity: str, key: str, kinds: tuple[str, ...] = API_MALFORMATIONS
) -> str | None:
    """How the record `key` of `entity` ("source/entity") is malformed, or None if it is not.

    Keyed by the record, not the request, so a record is malformed on every page and retry.
    """
    if rate <= 0:
        return None
    rng = random.Random(f"{seed}:malformed:{entity}:{key}")
    if rng.random() >= rate:
        return None
    return rng.choice(kinds)


def planted_keys(
    seed: int, plant: Plant | None, entity: str, day: date, keys: Iterable[str]
) -> list[str]:
    """Which of the day's records (by key) of `entity` ("source/entity") carry the plant.

    Chosen per day, not per record, so that every planted day has at least one.
    """
    if plant is None or day < plant.first_day:
        return []
    ordered = sorted(keys)
    if not ordered:
        return []
    count = max(1, round(plant.share * len(ordered)))
    rng = random.Random(f"{seed}:planted:{plant.kind}:{entity}:{day.isoformat()}")
    return sorted(rng.sample(ordered, count))


def without(record: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A copy of a nested record with the field at `path` removed."""
    copy = dict(record)
    if len(path) == 1:
        copy.pop(path[0], None)
    else:
        copy[path[0]] = without(copy[path[0]], path[1:])
    return copy


def replaced(record: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of a nested record with the field at `path` set to `value`."""
    copy = dict(record)
    if len(path) == 1:
        copy[path[0]] = value
    else:
        copy[path[0]] = replaced(copy[path[0]], path[1:], value)
    return copy


def malform(
    record: dict[str, Any], kind: str, id_path: tuple[str, ...], typed_path: tuple[str, ...]
) -> dict[str, Any]:
    """The record with its id removed or a typed field holding a string that is no number."""
    if kind == MISSING_ID:
        return without(record, id_path)
    if kind == WRONG_TYPE:
        return replaced(record, typed_path, WRONG_VALUE)
    raise ValueError(f"a JSON record cannot be malformed as {kind!r}")


def google_performance_key(campaign_id: str, day: date) -> str:
    """How a Google Ads performance row is named: `<campaign id>:<date>`."""
    return f"{campaign_id}:{day.isoformat()}"


def meta_insights_key(level: str, object_id: str, day: date) -> str:
    """How a Meta insights row is named: `campaign:<id>:<date>` or `adset:<id>:<date>`."""
    return f"{level}:{object_id}:{day.isoformat()}"


def file_line_key(relative_path: str, line_number: int) -> str:
    """How a line of a dropped file is named: `<path under the source folder>:<line from 1>`."""
    return f"{relative_path}:{line_number}"


def broken_json(line: str) -> str:
    """A JSON line cut off half way, as a crashed writer leaves it."""
    return line[: max(1, len(line) // 2)]

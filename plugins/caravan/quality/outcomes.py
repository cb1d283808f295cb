"""One check's outcome as a row's columns: what GX's expectation result says, as JSON text.

GX's results are read as they come (no GX import here); their values come from pandas,
numpy and the warehouse (numpy scalars, Decimals, timestamps, NaN), hence `to_json`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from caravan.quality.results import SAMPLE_KEYS_LIMIT

SAMPLE_VALUE_CHARS = 80  # an offending value longer than this is cut in results and messages

if TYPE_CHECKING:
    from caravan.quality.checks import Check


def outcome_columns(check: Check, result: Any, keys: list[str]) -> dict[str, Any]:
    """The result-specific columns of one row, from GX's result for `check` (None: GX gave
    none), failing rows sampled by `keys`."""
    expectation = check.expectation
    if result is None:  # not expected from GX; recorded as a failure rather than lost
        kwargs = dict(expectation.configuration.kwargs)
        detail = {"error": "GX returned no result for this expectation"}
        return _columns(expectation.expectation_type, kwargs, check, False, detail, None, [])
    config = result.expectation_config
    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    values = result.result or {}
    error = _exception_message(result.exception_info)
    if error is not None:
        observed: Any = {"error": error}
    elif "observed_value" in values:
        observed = values["observed_value"]
    elif "element_count" in values:
        observed = {
            name: values[name]
            for name in ("element_count", "missing_count", "unexpected_percent")
            if name in values
        }
    else:
        observed = None
    unexpected = values.get("unexpected_count")
    index_list = values.get("partial_unexpected_index_list") or []
    samples = _sample_keys(index_list, keys)
    sampled_values = _sample_values(index_list, keys, kwargs.get("column"))
    if sampled_values and isinstance(observed, dict):
        observed = {**observed, "sample_values": sampled_values}
    success = bool(result.success) and error is None
    return _columns(config.type, kwargs, check, success, observed, unexpected, samples)


def _columns(
    expectation_type: str,
    kwargs: dict,
    check: Check,
    success: bool,
    observed: Any,
    unexpected: Any,
    samples: list,
) -> dict[str, Any]:
    return {
        "expectation": expectation_type,
        "column_name": _column_name(kwargs),
        "severity": check.severity,
        "success": success,
        "observed_value": to_json(observed),
        "unexpected_count": None if unexpected is None else int(unexpected),
        "sample_keys": to_json(samples),
        "kwargs": to_json(kwargs),
    }


def _column_name(kwargs: Mapping[str, Any]) -> str | None:
    """The checked column; multi-column expectations list theirs, comma-separated."""
    if kwargs.get("column") is not None:
        return str(kwargs["column"])
    if kwargs.get("column_A") is not None:
        return f"{kwargs['column_A']},{kwargs.get('column_B')}"
    if kwargs.get("column_list"):
        return ",".join(str(column) for column in kwargs["column_list"])
    return None


def _sample_keys(index_list: Iterable[Any], keys: list[str]) -> list[dict]:
    samples = []
    for item in list(index_list)[:SAMPLE_KEYS_LIMIT]:
        if isinstance(item, Mapping) and keys:
            samples.append({key: item.get(key) for key in keys})
        else:  # no key columns: GX reports the frame's index labels
            samples.append({"_index": item})
    return samples


def _sample_values(index_list: Iterable[Any], keys: list[str], column: str | None) -> list:
    """The checked column's offending value of each sampled row (in `sample_keys`' order),
    cut to SAMPLE_VALUE_CHARS; none when the column is a key (its keys show it)."""
    items = list(index_list)[:SAMPLE_KEYS_LIMIT]
    if not column or column in keys or not all(isinstance(i, Mapping) for i in items):
        return []
    shown = []
    for item in items:
        value = _jsonable(item.get(column))
        if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
            value = value[: SAMPLE_VALUE_CHARS - 3] + "..."
        shown.append(value)
    return shown if any(value is not None for value in shown) else []  # not-null: no news


def _exception_message(info: Any) -> str | None:
    """GX's error text: flat for an expectation that raised, nested by metric otherwise."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    messages: list[str] = []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "GX raised an exception").strip()
            if message not in messages:
                messages.append(message)
    return "; ".join(messages) or None


def to_json(value: Any) -> str:
    """JSON text for values from pandas/numpy/GX (numpy scalars, Decimals, timestamps, NaN)."""
    return json.dumps(_jsonable(value), allow_nan=False, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, np.datetime64):  # .item() would give nanoseconds as an int
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else pd.Timedelta(value).isoformat()
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None  # exact, unlike a float
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | pd.Timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, np.ndarray):
        return [_jsonable(item) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)

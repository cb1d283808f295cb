"""What `caravan ask` answers: one value for the terminal, JSON, a dashboard or a REST call."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from caravan.summary import format_table

OFFLINE = "offline"


@dataclass(frozen=True)
class Answer:
    text: str
    mode: str  # "offline", or the language model's name
    metric: Any = None  # the MetricQuery the numbers came from, if any
    sql: str | None = None  # the SQL that ran (the metric's or the guarded fallback's)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)  # refs, issue numbers, metric names
    notes: list[str] = field(default_factory=list)


def json_value(value: Any) -> Any:
    """A value JSON can carry: Decimal as its exact text, dates as ISO, dataclasses as dicts."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def answer_as_json(answer: Answer) -> dict[str, Any]:
    return json_value(answer)


def _cell(value: Any) -> str:
    """A value as the table shows it: a ratio (a float) to 4 decimals, the rest exact."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_answer(answer: Answer) -> str:
    """The answer for a terminal: its label, text, rows as a table, notes and sources."""
    parts = [f"[{answer.mode}]", answer.text.rstrip()]
    if answer.columns:
        parts.append(format_table(answer.columns, answer.rows, cell=_cell))
    for note in answer.notes:
        parts.append(f"Note: {note}")
    if answer.citations:
        parts.append("Sources:\n" + "\n".join(f"  - {ref}" for ref in answer.citations))
    return "\n\n".join(part for part in parts if part) + "\n"

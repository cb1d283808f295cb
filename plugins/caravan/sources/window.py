"""What one run asks a source for: its data interval (plus lookback), as placeholders.

Registry values may hold `${name}` placeholders (`${start}`, `${end_at}`,
`${customer_id}`, ...); they are filled here, before a request is built, so a
source's YAML says in its own terms how it filters a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from string import Template
from typing import Any

from caravan.sources.registry import EntitySpec, SourceSpec


@dataclass(frozen=True)
class Window:
    """The days a run reads: `first_day..last_day`, both inclusive; `ds` is the last."""

    ds: str
    first_day: date
    last_day: date

    @classmethod
    def for_run(cls, source: SourceSpec, entity: EntitySpec, ds: str) -> Window:
        """A data-interval entity re-reads `lookback_days` before ds (ad platforms restate
        the last days); a snapshot is the state at the end of ds."""
        day = date.fromisoformat(ds)
        lookback = source.lookback_days if entity.window == "data_interval" else 0
        return cls(ds, day - timedelta(days=lookback), day)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.first_day, time(), tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        """The exclusive end: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), tzinfo=UTC)

    def days(self) -> list[str]:
        count = (self.last_day - self.first_day).days + 1
        return [(self.first_day + timedelta(days=n)).isoformat() for n in range(count)]

    def placeholders(self) -> dict[str, str]:
        last_moment = self.end_at - timedelta(milliseconds=1)
        return {
            "ds": self.ds,
            "ds_nodash": self.ds.replace("-", ""),
            "start": self.first_day.isoformat(),
            "end": self.last_day.isoformat(),
            "start_at": _iso_millis(self.start_at),
            "end_at": _iso_millis(last_moment),  # inclusive, for BETWEEN filters
            "end_before": _iso_millis(self.end_at),  # exclusive
        }


def _iso_millis(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def fill(value: Any, placeholders: dict[str, str], where: str) -> Any:
    """`value` with every `${name}` in its strings replaced; an unknown name raises, naming
    where it was written."""
    if isinstance(value, str):
        try:
            return Template(value).substitute(placeholders)
        except KeyError as missing:
            raise ValueError(
                f"{where}: unknown placeholder ${{{missing.args[0]}}} in {value!r};"
                f" known: {', '.join(sorted(placeholders))}"
            ) from None
        except ValueError as error:
            raise ValueError(f"{where}: bad placeholder in {value!r}: {error}") from None
    if isinstance(value, dict):
        return {key: fill(item, placeholders, where) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, placeholders, where) for item in value]
    return value

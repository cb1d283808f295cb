"""An initial load of a source's history: one extract of a past period, split into days.

`caravan load-history --source S --start A --end B` reads every data-interval entity of S
once over the window A .. B (a file_drop entity reads its `history_files`, the history
export, instead of its daily `files`), places each record on the UTC day of its
`incremental_field`, then, day after day from A to B, stages the day (`ingest.stage`),
gates it (`ingest_steps.gate`) and publishes it (`ingest_steps.publish`): the same
partitions, manifests, quarantine and gate results as the daily runs of those days
would have made, and each day's typed copy of a `landing` entity loaded into the
warehouse (`landing.<source>__<entity>`, the day replaced whole). A record whose day is
missing or outside A .. B goes to the quarantine of B (the window's `ds`, as a daily
run's lookback records go to its `ds`) with the reason, so over the whole load
delivered = rows + quarantined.

Why a command calling the steps, not an Airflow run (a DAG run with a range in its conf,
as `caravan run --range` runs the transform): the days must be gated and published one
after another, oldest first, because the raw gate compares a day with the days published
before it (volume, drift, `stable_per`), as it would have in the daily runs. Spark's range
run gates every day and then publishes them all; a history in one task would outlast the
ingest tasks' execution_timeout, and as one task per day it would extract B - A + 1 times
or pass the records through XComs. A load happens once, when a source is switched on, so
its progress and its failure belong at the operator's terminal. It emits no Asset event:
a year of events would queue a transform run per day; the DAGs that read the source run
over the range afterwards (`caravan run --start A --end B --range`).
"""

from __future__ import annotations

import logging
import pickle
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from caravan.lake import Lake, date_range
from caravan.pipeline import ingest_steps, warehouse_steps
from caravan.settings import Settings, get_settings
from caravan.sources import Delivered, SourceError
from caravan.sources.ingest import field_value, rejection_reason, stage
from caravan.sources.registry import EntitySpec, SourceSpec
from caravan.sources.window import Window

log = logging.getLogger(__name__)

RUN_ID_PREFIX = "history"
# Records a spill holds in memory before it appends them to their days' files: a long
# history is never held whole.
SPILL_BUFFER = 10_000


class HistoryError(ValueError):
    """A history load that cannot run or did not finish; the message says why and where."""


def check_range(source: SourceSpec, start: date, end: date) -> None:
    """A load's days must be a range from the source's first day on (its DAG runs from
    there: a day before it could never be rerun)."""
    if end < start:
        raise HistoryError(f"{source.name}: the history's end {end} is before its start {start}")
    first = ingest_steps.first_day(source)
    if start < first:
        before = min(end, first - timedelta(days=1))
        days = (before - start).days + 1
        span = start.isoformat() if days == 1 else f"{start} .. {before}"
        raise HistoryError(
            f"{source.name} starts on {first} (its start_date in dags/sources.yaml, else"
            f" caravan.dag_support.START_DATE), so its history has nothing to load for {days}"
            f" date(s): {span}. Declare an earlier start_date to load them."
        )


def history_entities(
    source: SourceSpec, names: Sequence[str] = ()
) -> tuple[list[EntitySpec], list[str]]:
    """The entities a load reads (those named, else every one it can split by day) and
    those it leaves out: a snapshot is the state on one day, which an export of the past
    does not hold, and without an `incremental_field` no record has a day."""
    unknown = [name for name in names if name not in source.entities]
    if unknown:
        raise HistoryError(
            f"{source.name}: no entity {', '.join(map(repr, unknown))};"
            f" its entities: {', '.join(source.entities)}"
        )
    chosen, skipped = [], []
    for entity in (source.entities[name] for name in names or source.entities):
        if entity.window == "data_interval" and entity.incremental_field:
            chosen.append(entity)
            continue
        if names:
            raise HistoryError(
                f"{source.name}/{entity.name}: a history load places each record on the day of"
                " its incremental_field; this entity"
                + (" is a snapshot" if entity.window == "snapshot" else " has none")
                + ": its daily runs load it"
            )
        skipped.append(entity.name)
    if not chosen:
        raise HistoryError(
            f"{source.name}: no entity with an incremental_field to split a history by"
            f" (left out: {', '.join(skipped)}); its daily runs load it (caravan run)"
        )
    for entity in chosen:
        if source.kind == "file_drop" and not entity.history_files:
            raise HistoryError(
                f"{source.name}/{entity.name}: a file_drop entity's history is read from its"
                " history_files (a glob of the history export under the connection's folder,"
                " e.g. orders_export*.csv), which dags/sources.yaml does not set"
            )
    return chosen, skipped


def reading(source: SourceSpec, entity: EntitySpec) -> EntitySpec:
    """The entity as a history load reads it: a file drop's history export is its own
    glob; the other kinds read the window through their usual request."""
    if source.kind == "file_drop":
        return replace(entity, files=entity.history_files)
    return entity


def history_window(start: date, end: date) -> Window:
    """One window over the whole history; `${start}` … `${end}` fill the request."""
    return Window(ds=end.isoformat(), first_day=start, last_day=end)


def record_day(record: Any, entity: EntitySpec) -> date | None:
    """The UTC day of the record's incremental field, read as its declared type (the
    parser staging and the raw gate's window check use); None when missing or unreadable."""
    name = entity.incremental_field
    value = field_value(record, name) if isinstance(record, dict) and name else None
    if value is None:
        return None
    try:
        parsed = entity.types[name].parse(value)
    except ValueError:  # TypeMismatch: staging names it
        return None
    return parsed.date() if isinstance(parsed, datetime) else parsed


def placed(
    delivered: Delivered, entity: EntitySpec, first: date, last: date
) -> tuple[str | None, Delivered]:
    """The day a delivered record goes to, and the record; None for a record without a day
    in first .. last, which the load quarantines in the last day's partition (the window's
    ds) with the reason staging gives it or, when staging would load it, why it has no day."""
    day = None if delivered.error else record_day(delivered.record, entity)
    if day is not None and first <= day <= last:
        return day.isoformat(), delivered
    if delivered.error or rejection_reason(delivered.record, entity):
        return None, delivered
    name = entity.incremental_field
    if day is None:
        reason = f"field {name!r} is missing, so the history load cannot place the record on a day"
    else:
        value = repr(field_value(delivered.record, name))
        shown = value if len(value) <= 60 else value[:57] + "..."
        reason = f"field {name!r} is {shown}, not a day of the history load {first} .. {last}"
    return None, Delivered(delivered.record, delivered.origin, reason)


@dataclass
class DaySpill:
    """One entity's delivered records by day, in files under `folder` (as they came, types
    and all: pickled), so a long history is staged day by day from disk."""

    folder: Path
    counts: dict[str, int] = field(default_factory=dict)
    _buffer: dict[str, list[Delivered]] = field(default_factory=dict)
    _buffered: int = 0

    def add(self, ds: str, delivered: Delivered) -> None:
        self._buffer.setdefault(ds, []).append(delivered)
        self.counts[ds] = self.counts.get(ds, 0) + 1
        self._buffered += 1
        if self._buffered >= SPILL_BUFFER:
            self.flush()

    def flush(self) -> None:
        for ds, records in self._buffer.items():
            with open(self.folder / f"{ds}.pickle", "ab") as out:
                for delivered in records:
                    pickle.dump(delivered, out, protocol=pickle.HIGHEST_PROTOCOL)
        self._buffer, self._buffered = {}, 0

    def read(self, ds: str) -> Iterator[Delivered]:
        """The day's records in the order they were delivered."""
        path = self.folder / f"{ds}.pickle"
        if not path.exists():
            return
        with open(path, "rb") as spilled:
            while True:
                try:
                    yield pickle.load(spilled)  # this load's own file, never another's
                except EOFError:
                    return


@dataclass(frozen=True)
class Extracted:
    """What one entity's extract delivered: records in all, and those left without a day."""

    entity: str
    delivered: int
    without_day: int


def extract(
    source: SourceSpec,
    entities: list[EntitySpec],
    connection: Any,
    start: date,
    end: date,
    folder: Path,
    on_extracted: Callable[[Extracted], None] = lambda _: None,
) -> dict[str, DaySpill]:
    """One extract of each entity over start .. end, its records spilled by day."""
    from caravan.sources.extract import window_deliveries

    window = history_window(start, end)
    spills = {}
    for entity in entities:
        spill = spills[entity.name] = DaySpill(folder / entity.name)
        spill.folder.mkdir(parents=True)
        without_day = 0
        try:
            for delivered in window_deliveries(source, reading(source, entity), connection, window):
                ds, kept = placed(delivered, entity, start, end)
                without_day += ds is None
                spill.add(ds or end.isoformat(), kept)
        except SourceError as error:
            raise HistoryError(f"the history load {start} .. {end}: {error}") from error
        spill.flush()
        on_extracted(Extracted(entity.name, sum(spill.counts.values()), without_day))
    return spills


def load_history(
    source_name: str,
    start: date,
    end: date,
    connection: Any,
    run_id: str,
    entity_names: Sequence[str] = (),
    on_extracted: Callable[[Extracted], None] = lambda _: None,
    on_day: Callable[[int, int, list[dict]], None] = lambda *_: None,
    scratch: Path | None = None,
) -> list[dict]:
    """Load start .. end of the source's history: one extract per entity, then each day
    staged, gated and published in turn, oldest first (`on_day(done, total, staged)` after
    each). Returns each day's staged summaries. A day whose gate fails stops the load:
    the days before it stay published, the message names the day and the way on."""
    from airflow.sdk.exceptions import AirflowFailException  # what a failed gate raises

    source = ingest_steps.source_spec(source_name)
    check_range(source, start, end)
    entities, skipped = history_entities(source, entity_names)
    if skipped:
        log.info("%s: left out of the history load: %s", source.name, ", ".join(skipped))
    lake = Lake(get_settings().lake_url)
    days = date_range(start.isoformat(), end.isoformat())
    loaded = []
    with tempfile.TemporaryDirectory(prefix="caravan-history-", dir=scratch) as folder:
        spills = extract(source, entities, connection, start, end, Path(folder), on_extracted)
        for done, ds in enumerate(days, start=1):
            staged = [
                stage(lake, source.name, entity, ds, spills[entity.name].read(ds)).to_xcom()
                for entity in entities
            ]
            try:
                ingest_steps.gate(staged, run_id)
            except AirflowFailException as failed:
                raise HistoryError(_stopped_at(source.name, days, ds, failed)) from failed
            ingest_steps.publish(staged, run_id)
            # The typed copies of its `landing` entities go into the warehouse here: the
            # warehouse DAG runs for days every dataset has, which a history is not.
            landed = tuple((source.name, e.name) for e in entities if e.landing)
            if landed:
                warehouse_steps.load(ds, entities=landed)
            loaded.append(staged)
            on_day(done, len(days), staged)
    return loaded


def _stopped_at(source: str, days: list[str], ds: str, failed: Exception) -> str:
    at = days.index(ds)
    published = f"{days[0]} .. {days[at - 1]}" if at else "none"
    return (
        f"{source} ds={ds}: the raw gate failed, so the history load stopped there"
        f" (published: {published}; not loaded: {ds} .. {days[-1]}). Mend the export or the"
        f" registry and run the load again: every day it loads is replaced whole.\n{failed}"
    )


def airflow_connection(settings: Settings, source: SourceSpec) -> Any:
    """The source's Airflow connection, looked up as Airflow's CLI does: environment
    variables, a secrets backend, then the metadata database of CARAVAN_HOME."""
    from caravan import airflow_env

    airflow_env.apply(settings)
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(source.conn_id)
    except AirflowNotFoundException:
        raise HistoryError(
            f"{source.name}: Airflow connection {source.conn_id!r} is not defined: set"
            f" AIRFLOW_CONN_{source.conn_id.upper()} or add it"
            " (`caravan airflow connections add ...`)"
        ) from None


def run_id_for(start: date, end: date) -> str:
    """The load's run id, as the manifests and the gate results name it."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return f"{RUN_ID_PREFIX}__{start}_{end}__{now}"


def day_line(done: int, total: int, staged: list[dict]) -> str:
    """`  [ 3/31] 2016-03-03  orders 120 rows, 2 quarantined; items ...`"""
    parts = [f"{s['entity']} {s['rows']} rows, {s['quarantined']} quarantined" for s in staged]
    return f"  [{done:>{len(str(total))}}/{total}] {staged[0]['ds']}  " + "; ".join(parts)


def load_history_command(
    settings: Settings, source_name: str, start: str, end: str, entity_names: Sequence[str] = ()
) -> int:
    """`caravan load-history`: a line per extracted entity and per loaded day on the
    terminal, everything else (the gates' logs) in $CARAVAN_HOME/logs/history.log."""
    import sys

    from caravan.runner import output_to_file, reported

    try:
        first, last = _day("--start", start), _day("--end", end)
        source = ingest_steps.source_spec(source_name)
        check_range(source, first, last)
        entities, skipped = history_entities(source, entity_names)
    except ValueError as refused:  # HistoryError, RegistryError
        print(f"caravan load-history: {refused}", file=sys.stderr)
        return 2
    days = (last - first).days + 1
    log_file = settings.logs_dir / "history.log"
    print(
        f"Loading the history of {source.name} ({', '.join(e.name for e in entities)}),"
        f" {first} .. {last}: one extract, {days} daily partition(s) (log: {log_file})"
        + (f"; left out: {', '.join(skipped)} (no day to split by)" if skipped else ""),
        flush=True,
    )
    totals = {"delivered": 0, "rows": 0, "quarantined": 0}

    def extracted(found: Extracted) -> None:
        print(
            f"  extracted {source.name}/{found.entity}: {found.delivered} records,"
            f" {found.without_day} without a day in {first} .. {last}",
            file=terminal,
        )

    def day_done(done: int, total: int, staged: list[dict]) -> None:
        for entity in staged:
            for key in totals:
                totals[key] += entity[key]
        print(day_line(done, total, staged), file=terminal)

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with output_to_file(log_file) as terminal:
        logging.basicConfig(level=logging.INFO)

        def work() -> None:
            load_history(
                source.name,
                first,
                last,
                airflow_connection(settings, source),
                run_id_for(first, last),
                [entity.name for entity in entities],
                on_extracted=extracted,
                on_day=day_done,
                scratch=settings.home,
            )

        if reported(work, terminal, log_file, expected=(HistoryError,)):
            return 1
    print(
        f"Done: {days} partition(s) of {source.name}, delivered {totals['delivered']} ="
        f" {totals['rows']} rows + {totals['quarantined']} quarantined."
    )
    return 0


def _day(option: str, text: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise HistoryError(f"{option} {text!r} is not a day written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise HistoryError(f"{option} {text!r} is not a day: {error}") from None

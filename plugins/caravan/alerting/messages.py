"""An alert's message: what happened, where, and which records; built from the task
(`TaskRef`) and an exception or a gate's result, and rendered for Slack and for email.

Pure: no delivery, no secrets masker (the notifier redacts what these functions
render). Only the standard library at module level.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from caravan.quality.gate import GateResult
    from caravan.task_context import TaskRef

AlertSeverity = Literal["error", "warn"]
#: Sample keys shown per expectation in a message (the gate keeps up to 20).
SAMPLE_KEYS_SHOWN = 10


@dataclass(frozen=True)
class ExpectationFailure:
    """One failing expectation of a gate, as the results history records it."""

    expectation: str
    column: str | None
    severity: str
    unexpected_count: int | None
    sample_keys: tuple[dict, ...]


@dataclass(frozen=True)
class Alert:
    """What happened, where: enough for someone to find the run, the task and the records."""

    severity: AlertSeverity
    dag_id: str
    task_id: str
    ds: str | None
    run_id: str
    what: str  # one line
    failures: tuple[ExpectationFailure, ...] = ()
    log_url: str | None = None

    @property
    def headline(self) -> str:
        verdict = "failed" if self.severity == "error" else "passed with warnings"
        return f"{self.dag_id}.{self.task_id} {verdict} (ds {self.ds or 'unknown'})"


# --- building alerts ----------------------------------------------------------------------


def expectation_failures(result: GateResult) -> tuple[ExpectationFailure, ...]:
    """The gate's failing expectations, with their sample keys parsed from the history's JSON."""
    return tuple(
        ExpectationFailure(
            expectation=row["expectation"],
            column=row["column_name"],
            severity=row["severity"],
            unexpected_count=row["unexpected_count"],
            sample_keys=tuple(json.loads(row["sample_keys"] or "[]")),
        )
        for row in result.failures
    )


def gate_result_of(error: BaseException | None) -> GateResult | None:
    """The GateResult behind a task's exception (gates raise AirflowFailException from
    GateFailed), or None for any other failure."""
    from caravan.quality.gate import GateFailed  # only reached when a task failed

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, GateFailed):
            return error.result
        error = error.__cause__ or error.__context__
    return None


def first_line(error: BaseException | str | None) -> str:
    """`Type: first line of the message`, or a plain note when Airflow passed no exception."""
    if error is None:
        return "the task failed (no exception was passed to the callback)"
    if isinstance(error, str):
        return error.strip().splitlines()[0] if error.strip() else "the task failed"
    message = str(error).strip()
    head = message.splitlines()[0] if message else ""
    return f"{type(error).__name__}: {head}" if head else type(error).__name__


def alert_for(
    task: TaskRef | None,
    severity: AlertSeverity,
    what: str,
    failures: tuple[ExpectationFailure, ...] = (),
    ds: str | None = None,
) -> Alert:
    """An alert about a task (or, without one, about an unknown task)."""
    return Alert(
        severity=severity,
        dag_id=task.dag_id if task else "unknown DAG",
        task_id=task.task_id if task else "unknown task",
        ds=ds or (task.ds if task else None),
        run_id=task.run_id if task else "unknown run",
        what=what,
        failures=failures,
        log_url=task.log_url if task else None,
    )


def failure_alert(task: TaskRef | None, error: BaseException | str | None) -> Alert:
    """The alert for a failed task: a gate's failing expectations, or the exception's first line."""
    result = gate_result_of(error) if isinstance(error, BaseException) else None
    if result is not None:
        what = result.summary().splitlines()[0]
        return alert_for(task, "error", what, expectation_failures(result), result.ds)
    return alert_for(task, "error", first_line(error))


def gate_warning_alert(result: GateResult, task: TaskRef | None) -> Alert:
    """The alert for a gate that passed with `warn` failures."""
    what = result.summary().splitlines()[0]
    return alert_for(task, "warn", what, expectation_failures(result), result.ds)


# --- rendering ----------------------------------------------------------------------------


def _keys_text(samples: Iterable[dict]) -> str:
    return ", ".join(json.dumps(sample, sort_keys=True) for sample in samples)


def _failure_lines(failure: ExpectationFailure) -> tuple[str, str | None]:
    """(what failed, its sample keys or None) in plain text."""
    column = f"column {failure.column}" if failure.column else "the table"
    count = (
        f": {failure.unexpected_count} unexpected" if failure.unexpected_count is not None else ""
    )
    head = f"[{failure.severity}] {failure.expectation} on {column}{count}"
    shown = failure.sample_keys[:SAMPLE_KEYS_SHOWN]
    if not shown:
        return head, None
    more = len(failure.sample_keys) - len(shown)
    keys = _keys_text(shown) + (f" (and {more} more)" if more > 0 else "")
    return head, keys


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(alert: Alert) -> str:
    """The alert as Slack mrkdwn (also fine for Mattermost, Rocket.Chat and the like)."""
    icon = ":red_circle:" if alert.severity == "error" else ":warning:"
    e = _slack_escape
    lines = [
        f"{icon} *Caravan: {e(alert.headline)}*",
        f"DAG `{e(alert.dag_id)}` · task `{e(alert.task_id)}` · ds `{e(alert.ds or 'unknown')}`"
        f" · run `{e(alert.run_id)}`",
        e(alert.what),
    ]
    for failure in alert.failures:
        head, keys = _failure_lines(failure)
        lines.append(f"• {e(head)}")
        if keys:
            lines.append(f"    sample keys: `{e(keys)}`")
    if alert.log_url:
        lines.append(f"<{alert.log_url}|Task log>")
    return "\n".join(lines)


def email_subject(alert: Alert) -> str:
    tag = "FAILED" if alert.severity == "error" else "WARNING"
    return f"[Caravan] {tag}: {alert.dag_id}.{alert.task_id} ds={alert.ds or 'unknown'}"


def email_text(alert: Alert) -> str:
    """The alert as a plain-text email body."""
    lines = [
        f"Caravan: {alert.headline}",
        "",
        f"DAG:    {alert.dag_id}",
        f"Task:   {alert.task_id}",
        f"ds:     {alert.ds or 'unknown'}",
        f"Run:    {alert.run_id}",
        "",
        alert.what,
    ]
    if alert.failures:
        lines += ["", "Failing expectations:"]
    for failure in alert.failures:
        head, keys = _failure_lines(failure)
        lines.append(f"  - {head}")
        if keys:
            lines.append(f"    sample keys: {keys}")
    if alert.log_url:
        lines += ["", f"Task log: {alert.log_url}"]
    return "\n".join(lines)


def email_html(text: str) -> str:
    """The SMTP notifier sends HTML: the plain text, escaped, kept as laid out."""
    return f"<pre>{html.escape(text)}</pre>"

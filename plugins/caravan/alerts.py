"""Telling people: one alert for a failed task, one for a gate that passes with warnings.

Every task of every DAG has `on_task_failure` as its failure callback (dag_support's
DEFAULT_ARGS), and a gate that passes with `warn` failures calls `alert_gate_warnings`.
Either builds Caravan's message (`caravan.alerting.messages`) and hands it to
`CaravanNotifier` (`caravan.alerting.notifier`), an Airflow notifier that redacts it and
sends it through the Slack provider's webhook notifier and the SMTP provider's notifier,
to each channel whose Airflow connection is defined (docs/alerts.md).

Only the standard library at module level: dag_support imports this in DAG files, and
the notifier (Airflow's task SDK and both providers) loads only when an alert goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from caravan.alerting.messages import (
    SAMPLE_KEYS_SHOWN,
    Alert,
    AlertSeverity,
    ExpectationFailure,
    email_subject,
    email_text,
    failure_alert,
    gate_warning_alert,
    slack_text,
)

if TYPE_CHECKING:
    from caravan.quality.gate import GateResult
    from caravan.settings import Settings
    from caravan.task_context import TaskRef

__all__ = [
    "SAMPLE_KEYS_SHOWN",
    "Alert",
    "AlertSeverity",
    "ExpectationFailure",
    "alert_gate_warnings",
    "email_subject",
    "email_text",
    "failure_alert",
    "gate_warning_alert",
    "on_task_failure",
    "send",
    "slack_text",
]

log = logging.getLogger(__name__)


def send(
    alert: Alert, settings: Settings | None = None, context: Mapping[str, Any] | None = None
) -> list[str]:
    """Deliver the alert to every configured channel; return the channels that took it."""
    from caravan.alerting.notifier import CaravanNotifier

    return CaravanNotifier(alert, settings=settings).deliver(context or {})


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Failure callback of every Caravan task (runs once, after the last try).

    A function rather than a `CaravanNotifier` instance in DEFAULT_ARGS: importing
    dag_support then loads no notifier (Airflow's task SDK costs about a second on its
    own), and a callback error can never hide the task's own failure.
    """
    try:
        from caravan.alerting.notifier import redacted
        from caravan.task_context import task_ref

        alert = failure_alert(task_ref(context), context.get("exception"))
        log.info("Alerts: %s: %s", alert.headline, redacted(alert.what))
        send(alert, context=context)
    except Exception:  # a callback error must not hide the task's own failure
        log.exception("Alerts: could not build or send the failure alert")


def alert_gate_warnings(result: GateResult, task: TaskRef | None) -> None:
    """Send one `warn` alert for a gate that passed with warn-severity failures (`task`:
    the gate's task, for the message; None when a gate runs outside Airflow)."""
    try:
        send(gate_warning_alert(result, task))
    except Exception:  # the gate passed; a notifier problem must not fail the task
        log.exception("Alerts: could not send the gate warning alert")

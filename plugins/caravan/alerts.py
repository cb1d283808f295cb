"""Telling people: one notifier for failed tasks and for gates that pass with warnings.

Every task of every DAG has `on_task_failure` as its failure callback (dag_support's
DEFAULT_ARGS), and a gate that passes with `warn` failures calls `send` itself. An
alert goes to each channel whose Airflow connection is defined (docs/alerts.md):

- a Slack-compatible incoming webhook (`slackwebhook` connection, through the Slack
  provider's SlackWebhookHook);
- email (`smtp` connection, through the SMTP provider's SmtpHook) to
  `CARAVAN_ALERT_EMAIL_TO`.

An undefined connection turns its channel off; a channel that fails to deliver is
logged and never changes the task's own outcome. Messages are redacted with Airflow's
secrets masker, which knows the connections' passwords, before they leave.

Only the standard library at module level: dag_support imports this in DAG files.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from caravan.quality.gate import GateResult
    from caravan.settings import Settings

log = logging.getLogger(__name__)

AlertSeverity = Literal["error", "warn"]
#: Sample keys shown per expectation in a message (the gate keeps up to 20).
SAMPLE_KEYS_SHOWN = 10
DEFAULT_FROM_EMAIL = "caravan@localhost"

# Connections found undefined in this process, so that "channel off" is logged once.
_ANNOUNCED_OFF: set[str] = set()


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


# --- building alerts (pure) ---------------------------------------------------------------


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


def alert_from_context(
    context: Mapping[str, Any],
    severity: AlertSeverity,
    what: str,
    failures: tuple[ExpectationFailure, ...] = (),
    ds: str | None = None,
) -> Alert:
    """An alert about the task of an Airflow context (a task's or a callback's)."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or "unknown DAG"
    task_id = getattr(ti, "task_id", None) or "unknown task"
    run_id = str(context.get("run_id") or getattr(ti, "run_id", None) or "unknown run")
    return Alert(
        severity=severity,
        dag_id=dag_id,
        task_id=task_id,
        ds=ds or _ds_of(context),
        run_id=run_id,
        what=what,
        failures=failures,
        log_url=_log_url(ti),
    )


def failure_alert(context: Mapping[str, Any]) -> Alert:
    """The alert for a failed task: a gate's failing expectations, or the exception's first line."""
    error = context.get("exception")
    result = gate_result_of(error) if isinstance(error, BaseException) else None
    if result is not None:
        what = result.summary().splitlines()[0]
        return alert_from_context(context, "error", what, expectation_failures(result), result.ds)
    return alert_from_context(context, "error", first_line(error))


def gate_warning_alert(result: GateResult, context: Mapping[str, Any]) -> Alert:
    """The alert for a gate that passed with `warn` failures."""
    what = result.summary().splitlines()[0]
    return alert_from_context(context, "warn", what, expectation_failures(result), result.ds)


def _ds_of(context: Mapping[str, Any]) -> str | None:
    from caravan.dag_support import partition_ds  # dag_support imports this module

    try:
        return partition_ds(context)  # type: ignore[arg-type]
    except Exception:  # a callback must not fail for want of a ds
        return context.get("ds")


def _log_url(ti: Any) -> str | None:
    try:
        return getattr(ti, "log_url", None)
    except Exception:  # built from config; a broken one must not stop the alert
        return None


# --- rendering (pure) ----------------------------------------------------------------------


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
    """SmtpHook sends HTML: the plain text, escaped, kept as laid out."""
    return f"<pre>{html.escape(text)}</pre>"


# --- delivery (thin I/O) -------------------------------------------------------------------


def _connection(conn_id: str) -> Any | None:
    """The Airflow connection, or None (logged once) when it is not defined.

    Looking it up also teaches Airflow's secrets masker its password and extra.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id not in _ANNOUNCED_OFF:
            _ANNOUNCED_OFF.add(conn_id)
            log.info("Alerts: connection %r is not defined; that channel is off", conn_id)
        return None


def redacted(text: str) -> str:
    """The text with every value Airflow's secrets masker knows replaced by ***."""
    from airflow.sdk._shared.secrets_masker import redact

    return str(redact(text))


def _mask_settings_secrets(settings: Settings) -> None:
    """Secrets Caravan reads from the environment rather than from a connection."""
    from airflow.sdk.log import mask_secret

    if settings.openai_api_key:
        mask_secret(settings.openai_api_key)


def _post_slack(conn_id: str, text: str) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    # The hook raises on any answer but 200; the URL (the webhook's secret) stays out of it.
    SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=10).send_text(text)


def _send_email(conn_id: str, to: tuple[str, ...], subject: str, text: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as hook:
        hook.send_email_smtp(
            to=list(to),
            subject=subject,
            html_content=email_html(text),
            from_email=hook.from_email or DEFAULT_FROM_EMAIL,
        )


def _deliver(channel: str, conn_id: str, action: Callable[[], None]) -> bool:
    try:
        action()
    except Exception as error:  # an alert must never mask or change the task's outcome
        log.warning(
            "Alerts: could not deliver through %s (connection %r): %s",
            channel,
            conn_id,
            redacted(first_line(error)),
        )
        return False
    log.info("Alerts: delivered through %s (connection %r)", channel, conn_id)
    return True


def send(alert: Alert, settings: Settings | None = None) -> list[str]:
    """Deliver the alert to every configured channel; return the channels that took it."""
    from caravan.settings import get_settings

    settings = settings or get_settings()
    # Look the connections up first: that is what registers their secrets with the masker.
    slack = _connection(settings.alert_slack_conn_id)
    smtp = _connection(settings.alert_smtp_conn_id)
    _mask_settings_secrets(settings)

    delivered = []
    if slack is not None:
        text = redacted(slack_text(alert))
        if _deliver("slack", slack.conn_id, lambda: _post_slack(slack.conn_id, text)):
            delivered.append("slack")
    if smtp is not None:
        if not settings.alert_email_to:
            log.info("Alerts: CARAVAN_ALERT_EMAIL_TO is empty; email is off")
        else:
            subject, body = redacted(email_subject(alert)), redacted(email_text(alert))
            to = settings.alert_email_to

            def email() -> None:
                _send_email(smtp.conn_id, to, subject, body)

            if _deliver("email", smtp.conn_id, email):
                delivered.append("email")
    return delivered


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Failure callback of every Caravan task (runs once, after the last try)."""
    try:
        alert = failure_alert(context)
        log.info("Alerts: %s: %s", alert.headline, redacted(alert.what))
        send(alert)
    except Exception:  # a callback error must not hide the task's own failure
        log.exception("Alerts: could not build or send the failure alert")


def alert_gate_warnings(result: GateResult, context: Mapping[str, Any] | None) -> None:
    """Send one `warn` alert for a gate that passed with warn-severity failures."""
    try:
        send(gate_warning_alert(result, context or {}))
    except Exception:  # the gate passed; a notifier problem must not fail the task
        log.exception("Alerts: could not send the gate warning alert")

"""Caravan's alert as an Airflow notifier; the Slack and SMTP providers' notifiers send it.

`CaravanNotifier` builds Caravan's message (`alerting.messages`), redacts it with Airflow's
secrets masker and hands it, for each channel whose connection is defined, to the Slack
provider's `SlackWebhookNotifier` (`slackwebhook` connection) and the SMTP provider's
`SmtpNotifier` (`smtp` connection, to `CARAVAN_ALERT_EMAIL_TO`). An undefined connection
turns its channel off; a channel that fails to deliver is logged and the others still send.

Imports Airflow's task SDK and both providers: `caravan.alerts` loads this module only
when an alert goes out, so DAG files never do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk._shared.secrets_masker import redact
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import mask_secret

from caravan.alerting.messages import (
    Alert,
    email_html,
    email_subject,
    email_text,
    failure_alert,
    first_line,
    slack_text,
)
from caravan.settings import Settings, get_settings
from caravan.task_context import task_ref

if TYPE_CHECKING:
    from airflow.sdk import Connection

# The alerts' one logger, whichever module writes the line (docs/alerts.md).
log = logging.getLogger("caravan.alerts")

DEFAULT_FROM_EMAIL = "caravan@localhost"
SLACK_TIMEOUT_SECONDS = 10

# Connections found undefined in this process, so that "channel off" is logged once.
_ANNOUNCED_OFF: set[str] = set()


class CaravanNotifier(BaseNotifier):
    """Caravan's alert to every configured channel: a Slack-compatible webhook and email.

    Given no alert, it tells of the failed task of the context it is called with, so an
    instance can also be a task's `on_failure_callback`. It has no template fields, and it
    calls the channels' notifiers through `notify`, not as callbacks: the message is
    finished text, which Jinja must not render (an error message may hold `{{`).
    """

    def __init__(self, alert: Alert | None = None, *, settings: Settings | None = None):
        super().__init__()
        self.alert = alert
        self.settings = settings

    def notify(self, context: Mapping[str, Any]) -> None:  # type: ignore[override]
        self.deliver(context)

    def deliver(self, context: Mapping[str, Any]) -> list[str]:
        """Send the alert to every configured channel; return the channels that took it."""
        alert = self.alert or failure_alert(task_ref(context), context.get("exception"))
        settings = self.settings or get_settings()
        return [
            channel
            for channel, conn_id, notifier in channel_notifiers(alert, settings)
            if _deliver(channel, conn_id, notifier, context)
        ]


def channel_notifiers(alert: Alert, settings: Settings) -> list[tuple[str, str, BaseNotifier]]:
    """(channel, connection id, the provider's notifier with the redacted message) for each
    channel that is on."""
    # Look the connections up first: that is what registers their secrets with the masker.
    slack = _connection(settings.alert_slack_conn_id)
    smtp = _connection(settings.alert_smtp_conn_id)
    _mask_settings_secrets(settings)

    channels: list[tuple[str, str, BaseNotifier]] = []
    if slack is not None:
        channels.append(("slack", slack.conn_id, slack_notifier(alert, slack.conn_id)))
    if smtp is not None:
        if not settings.alert_email_to:
            log.info("Alerts: CARAVAN_ALERT_EMAIL_TO is empty; email is off")
        else:
            notifier = email_notifier(alert, smtp, settings.alert_email_to)
            channels.append(("email", smtp.conn_id, notifier))
    return channels


def slack_notifier(alert: Alert, conn_id: str) -> SlackWebhookNotifier:
    # Its hook raises on any answer but 200; the URL (the webhook's secret) stays out of it.
    return SlackWebhookNotifier(
        slack_webhook_conn_id=conn_id,
        text=redacted(slack_text(alert)),
        timeout=SLACK_TIMEOUT_SECONDS,
    )


def email_notifier(alert: Alert, connection: Connection, to: tuple[str, ...]) -> SmtpNotifier:
    return SmtpNotifier(
        to=list(to),
        # The connection's `from_email` extra, as the SMTP hook reads it, else Caravan's.
        from_email=connection.extra_dejson.get("from_email") or DEFAULT_FROM_EMAIL,
        subject=redacted(email_subject(alert)),
        html_content=email_html(redacted(email_text(alert))),
        smtp_conn_id=connection.conn_id,
    )


def redacted(text: str) -> str:
    """The text with every value Airflow's secrets masker knows replaced by ***."""
    return str(redact(text))


def _connection(conn_id: str) -> Connection | None:
    """The Airflow connection, or None (logged once) when it is not defined.

    Looking it up also teaches Airflow's secrets masker its password and extra.
    """
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id not in _ANNOUNCED_OFF:
            _ANNOUNCED_OFF.add(conn_id)
            log.info("Alerts: connection %r is not defined; that channel is off", conn_id)
        return None


def _mask_settings_secrets(settings: Settings) -> None:
    """Secrets Caravan reads from the environment rather than from a connection."""
    if settings.openai_api_key:
        mask_secret(settings.openai_api_key)


def _deliver(
    channel: str, conn_id: str, notifier: BaseNotifier, context: Mapping[str, Any]
) -> bool:
    try:
        notifier.notify(context)  # type: ignore[arg-type]
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

"""The notifier against a real local webhook receiver and a real local SMTP server.

Gates run for real (GX, the DuckDB results history). Below the callback, the steps and
the alerts take the task as a plain `TaskRef`; the callback itself gets the mapping
Airflow hands it, with stand-ins for the task instance and the run. Expected texts are
worked out by hand from the frames below.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import great_expectations.expectations as gxe
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from caravan import alerts
from caravan.pipeline.gates import gate_batch
from caravan.quality.gate import Check
from caravan.quality.suites import Suite
from caravan.task_context import TaskRef, task_ref
from tests.caravan.alert_receivers import (
    WEBHOOK_PATH,
    slack_connection,
    smtp_connection,
    smtp_receiver,
    webhook_receiver,
)

DS = "2026-11-02"
RUN_ID = "manual__2026-11-02T00:00:00+00:00"
WEBHOOK_TOKEN = "s3cr3tWebhookT0ken"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-Pa55word-xyz"
OPENAI_KEY = "sk-test-0123456789abcdef"
SECRETS = (WEBHOOK_TOKEN, SMTP_PASSWORD, OPENAI_KEY)
LOG_URL = "http://localhost:8080/dags/ingest_google_ads/runs/r/tasks/gate"


TASK = TaskRef("ingest_google_ads", "gate", RUN_ID, DS, LOG_URL)


def context(task_id: str = "gate", exception=None) -> dict:
    """What Airflow hands a failure callback: the parts the notifier reads."""
    ti = SimpleNamespace(
        dag_id="ingest_google_ads", task_id=task_id, run_id=RUN_ID, log_url=LOG_URL
    )
    dag_run = SimpleNamespace(conf={"ds": DS}, partition_key=None, run_id=RUN_ID)
    return {"ti": ti, "dag_run": dag_run, "run_id": RUN_ID, "exception": exception}


def performance() -> pd.DataFrame:
    """Three campaign-days; 21000002 and 21000004 have a negative cost, 21000004 no clicks."""
    return pd.DataFrame(
        {
            "campaign_id": ["21000001", "21000002", "21000004"],
            "segments_date": [DS, DS, DS],
            "metrics_costMicros": [5_000_000, -10_000, -250_000],
            "metrics_clicks": [12, 3, None],
        }
    )


def suite(checks: list[Check]) -> Suite:
    return Suite(
        stage="raw",
        source="google_ads",
        entity="campaign_performance",
        projection="*",
        key_columns=["campaign_id", "segments_date"],
        checks=lambda ds: checks,
    )


NON_NEGATIVE_COST = Check(
    gxe.ExpectColumnValuesToBeBetween(column="metrics_costMicros", min_value=0)
)
CLICKS_PRESENT = Check(gxe.ExpectColumnValuesToNotBeNull(column="metrics_clicks"), severity="warn")


@pytest.fixture
def channels(monkeypatch, tmp_path):
    """Both channels configured through Airflow connections, and a secret in the settings."""
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("CARAVAN_ALERT_EMAIL_TO", "ops@example.com; data@example.com")
    with webhook_receiver() as hook, smtp_receiver(SMTP_USER, SMTP_PASSWORD) as box:
        monkeypatch.setenv("AIRFLOW_CONN_CARAVAN_SLACK", slack_connection(hook, WEBHOOK_TOKEN))
        monkeypatch.setenv(
            "AIRFLOW_CONN_CARAVAN_SMTP", smtp_connection(box, SMTP_USER, SMTP_PASSWORD)
        )
        yield hook, box


def received(channels) -> tuple[str, str, str]:
    """(Slack text, email subject, email text) of the one alert each receiver got."""
    hook, box = channels
    assert len(hook.posts) == 1, hook.posts
    assert len(box.messages) == 1, [m["Subject"] for m in box.messages]
    assert hook.posts[0]["path"] == WEBHOOK_PATH + WEBHOOK_TOKEN
    assert box.logins == [(SMTP_USER, SMTP_PASSWORD)]
    assert box.recipients == [["ops@example.com", "data@example.com"]]
    message = box.messages[0]
    return hook.posts[0]["body"]["text"], message["Subject"], box.text(message)


def failed_gate_exception() -> AirflowFailException:
    """What a failed raw gate raises in its task (gate_batch, for real)."""
    with pytest.raises(AirflowFailException) as raised:
        gate_batch(suite([NON_NEGATIVE_COST]), performance(), DS, RUN_ID)
    return raised.value


def test_a_failed_gate_alerts_both_channels_with_expectation_column_and_sample_keys(channels):
    alerts.on_task_failure(context(exception=failed_gate_exception()))

    slack, subject, mail = received(channels)
    keys = (
        '{"campaign_id": "21000002", "segments_date": "2026-11-02"}, '
        '{"campaign_id": "21000004", "segments_date": "2026-11-02"}'
    )
    assert subject == "[Caravan] FAILED: ingest_google_ads.gate ds=2026-11-02"
    assert mail == (
        "<pre>Caravan: ingest_google_ads.gate failed (ds 2026-11-02)\n"
        "\n"
        "DAG:    ingest_google_ads\n"
        "Task:   gate\n"
        "ds:     2026-11-02\n"
        f"Run:    {RUN_ID}\n"
        "\n"
        f"raw gate google_ads/campaign_performance ds=2026-11-02 run_id={RUN_ID}: "
        "failed (1 error, 0 warn of 1 checks)\n"
        "\n"
        "Failing expectations:\n"
        "  - [error] expect_column_values_to_be_between on column metrics_costMicros: "
        "2 unexpected\n"
        f"    sample keys: {keys}\n"
        "\n"
        f"Task log: {LOG_URL}</pre>"
    )
    assert slack.splitlines() == [
        ":red_circle: *Caravan: ingest_google_ads.gate failed (ds 2026-11-02)*",
        f"DAG `ingest_google_ads` · task `gate` · ds `2026-11-02` · run `{RUN_ID}`",
        f"raw gate google_ads/campaign_performance ds=2026-11-02 run_id={RUN_ID}: "
        "failed (1 error, 0 warn of 1 checks)",
        "• [error] expect_column_values_to_be_between on column metrics_costMicros: 2 unexpected",
        f"    sample keys: `{keys}`",
        f"<{LOG_URL}|Task log>",
    ]
    for secret in SECRETS:
        assert secret not in slack + subject + mail


def test_secrets_in_an_error_message_are_redacted_in_both_messages(channels):
    hook, _ = channels
    error = RuntimeError(
        f"POST {hook.url}{WEBHOOK_PATH}{WEBHOOK_TOKEN} failed with key {OPENAI_KEY}"
        f" and password {SMTP_PASSWORD}\nsecond line is not sent"
    )
    alerts.on_task_failure(context(task_id="extract", exception=error))

    slack, subject, mail = received(channels)
    # The connection password (the webhook path with its token) is what the masker knows.
    expected = f"RuntimeError: POST {hook.url}*** failed with key *** and password ***"
    assert expected in slack
    assert expected in mail
    assert "second line" not in slack + mail
    for secret in SECRETS:
        assert secret not in slack + subject + mail


def test_a_gate_passing_with_warnings_sends_one_warn_alert(channels):
    result = gate_batch(
        suite([Check(gxe.ExpectColumnValuesToBeBetween(column="metrics_clicks", min_value=0)),
               CLICKS_PRESENT]),
        performance(),
        DS,
        RUN_ID,
        TASK,
    )  # fmt: skip

    assert result.passed
    slack, subject, mail = received(channels)
    assert subject == ("[Caravan] WARNING: ingest_google_ads.gate ds=2026-11-02")
    assert slack.startswith(":warning: *Caravan: ingest_google_ads.gate")
    line = "[warn] expect_column_values_to_not_be_null on column metrics_clicks: 1 unexpected"
    keys = '{"campaign_id": "21000004", "segments_date": "2026-11-02"}'
    assert f"• {line}\n    sample keys: `{keys}`" in slack
    assert f"  - {line}\n    sample keys: {keys}" in mail
    assert "passed with warnings (0 error, 1 warn of 2 checks)" in mail


def test_a_gate_that_passes_clean_sends_nothing(channels):
    gate_batch(suite([NON_NEGATIVE_COST]), performance().iloc[:1], DS, RUN_ID, TASK)
    hook, box = channels
    assert hook.posts == [] and box.messages == []


def test_a_channel_that_fails_is_logged_and_the_other_still_delivers(channels, caplog):
    hook, box = channels
    hook.status = 500
    caplog.set_level(logging.INFO, logger="caravan.alerts")

    alerts.on_task_failure(context(exception=failed_gate_exception()))  # does not raise

    assert len(hook.posts) == 1  # tried (slack_sdk does not retry a 500)
    assert len(box.messages) == 1
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "caravan.alerts" and r.levelno == logging.WARNING
    ]
    assert warnings == [
        "Alerts: could not deliver through slack (connection 'caravan_slack'): AirflowException:"
        " Response body: 'invalid_token', Status Code: 500."
        " See: https://api.slack.com/messaging/webhooks#handling_errors"
    ]
    assert WEBHOOK_TOKEN not in caplog.text


def test_undefined_connections_turn_their_channel_off_logged_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("CARAVAN_HOME", str(tmp_path))
    # Connection ids no other test defines, so "logged once" starts afresh here.
    monkeypatch.setenv("CARAVAN_ALERT_SLACK_CONN_ID", "caravan_slack_undefined")
    monkeypatch.setenv("CARAVAN_ALERT_SMTP_CONN_ID", "caravan_smtp_undefined")
    caplog.set_level(logging.INFO, logger="caravan.alerts")
    alert = alerts.failure_alert(TASK, RuntimeError("boom"))

    assert alerts.send(alert) == []
    assert alerts.send(alert) == []

    off = [r.getMessage() for r in caplog.records if "is not defined" in r.getMessage()]
    assert off == [
        "Alerts: connection 'caravan_slack_undefined' is not defined; that channel is off",
        "Alerts: connection 'caravan_smtp_undefined' is not defined; that channel is off",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "caravan.alerts")


def test_email_without_recipients_is_off(channels, monkeypatch):
    monkeypatch.setenv("CARAVAN_ALERT_EMAIL_TO", "")
    alert = alerts.failure_alert(TASK, RuntimeError("boom"))
    assert alerts.send(alert) == ["slack"]
    assert channels[1].messages == []


# --- rendering ------------------------------------------------------------------------------


def test_a_plain_failure_names_the_exception_type_and_first_line_only():
    alert = alerts.failure_alert(TASK, ValueError("bad field 'x'\ntraceback-ish"))
    assert alert.what == "ValueError: bad field 'x'"
    assert (alert.dag_id, alert.task_id, alert.ds, alert.run_id, alert.failures) == (
        "ingest_google_ads",
        "gate",
        DS,
        RUN_ID,
        (),
    )


def test_slack_control_characters_are_escaped_and_long_samples_cut():
    failure = alerts.ExpectationFailure(
        expectation="expect_column_values_to_be_in_set",
        column="status",
        severity="error",
        unexpected_count=12,
        sample_keys=tuple({"order_id": n} for n in range(12)),
    )
    alert = alerts.Alert("error", "d", "t", DS, "r", "a <b> & c", (failure,))
    text = alerts.slack_text(alert)
    assert "a &lt;b&gt; &amp; c" in text
    shown = ", ".join(f'{{"order_id": {n}}}' for n in range(alerts.SAMPLE_KEYS_SHOWN))
    assert f"sample keys: `{shown} (and 2 more)`" in text


def test_the_callback_context_names_the_task_run_and_ds():
    assert task_ref(context(task_id="extract")) == TaskRef(
        "ingest_google_ads", "extract", RUN_ID, DS, LOG_URL
    )
    # A context without a task instance or a run still names what it can.
    assert task_ref({"run_id": RUN_ID, "ds": DS}) == TaskRef(
        "unknown DAG", "unknown task", RUN_ID, DS, None
    )


def test_a_message_holding_template_braces_arrives_as_written(channels):
    alerts.send(alerts.failure_alert(TASK, ValueError("bad value {{ ds }} in {{ x }}")))
    slack, subject, mail = received(channels)
    assert "ValueError: bad value {{ ds }} in {{ x }}" in slack
    assert "ValueError: bad value {{ ds }} in {{ x }}" in mail

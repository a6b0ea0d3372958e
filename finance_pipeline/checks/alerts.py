"""Alerts: every failed asset check (WARN or ERROR) reported exactly once.

A WARN failure, or any failure of a non-blocking check, leaves the run green, so run-failure
sensors never see it. `check_failure_alerts` instead reads ASSET_CHECK_EVALUATION records from
the event log after its cursor (`AlertCursor`: event id for Postgres/consolidated SQLite, a time
watermark plus the ids already reported for the default run-sharded SQLite storage) and hands
each failure to a `Notifier`: the Dagster log always, and a JSON POST to
FINANCE_PIPELINE_ALERT_WEBHOOK_URL when that is set. The cursor only moves past an alert once it
was delivered, so a webhook outage delays alerts instead of losing them. The webhook URL is
treated as a secret (chat webhooks embed a token): it never appears in logs or errors.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.event_api import RunShardedEventsCursor  # not re-exported by dagster

from finance_pipeline.checks.rules.freshness import FRESHNESS_CHECK_NAME
from finance_pipeline.redaction import redact
from finance_pipeline.settings import env

WEBHOOK_ENV = "FINANCE_PIPELINE_ALERT_WEBHOOK_URL"
_SIMPLE = (bool, int, float, str)


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept an alert; the message never contains the URL."""


@dataclass(frozen=True)
class Alert:
    """One failed check evaluation."""

    event_id: str  # run id and storage id: unique on every event log storage
    asset: str
    check: str
    severity: str  # "WARN" | "ERROR"
    partition: str | None
    description: str
    run_id: str
    timestamp: float
    metadata: dict[str, object] = field(default_factory=dict)
    resolved: bool = False  # a check that had failed passes again (the episode is over)

    def text(self) -> str:
        where = f"{self.asset}[{self.partition}]" if self.partition else self.asset
        if self.resolved:
            return redact(f"check {self.check} on {where} passes again: {self.description}")
        offenders = self.metadata.get("offenders")
        tail = f" (offenders: {offenders})" if offenders else ""
        return redact(
            f"check {self.check} on {where} failed at {self.severity}: {self.description}{tail}"
        )

    def payload(self) -> dict[str, object]:
        return {
            "text": self.text(),
            "asset": self.asset,
            "check": self.check,
            "severity": self.severity,
            "partition": self.partition,
            "description": redact(self.description),
            "run_id": self.run_id,
            "resolved": self.resolved,
            "timestamp": dt.datetime.fromtimestamp(self.timestamp, dt.UTC).isoformat(),
            "metadata": {
                k: redact(v) if isinstance(v, str) else v for k, v in self.metadata.items()
            },
        }


class Notifier:
    """Sends alerts to the log and, when configured, to a webhook (JSON POST)."""

    def __init__(self, webhook_url: str | None = None, timeout_seconds: float = 10.0) -> None:
        self._webhook_url = webhook_url or None
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_env(cls) -> Notifier:
        return cls(env(WEBHOOK_ENV))

    @property
    def has_webhook(self) -> bool:
        return self._webhook_url is not None

    def notify(self, alert: Alert, log: logging.Logger | dg.DagsterLogManager) -> None:
        """Log the alert, then POST it; AlertDeliveryError when the webhook refuses it."""
        if alert.resolved:
            log.info(alert.text())
        elif alert.severity == "ERROR":
            log.error(alert.text())
        else:
            log.warning(alert.text())
        if self._webhook_url is None:
            return
        body = json.dumps(alert.payload()).encode()
        secrets = [self._webhook_url]
        try:
            request = urllib.request.Request(
                self._webhook_url,
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise AlertDeliveryError(
                f"alert webhook ({WEBHOOK_ENV}) answered HTTP {exc.code}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = redact(str(getattr(exc, "reason", exc)), secrets)
            raise AlertDeliveryError(
                f"alert webhook ({WEBHOOK_ENV}) unreachable: {reason}"
            ) from None
        except (ValueError, http.client.HTTPException) as exc:  # no scheme, a space: urllib
            # quotes the URL, or part of it
            raise AlertDeliveryError(
                f"alert webhook ({WEBHOOK_ENV}) is not a usable URL "
                f"({type(exc).__name__}: {redact(str(exc), secrets)})"
            ) from None
        if not 200 <= status < 300:
            raise AlertDeliveryError(f"alert webhook ({WEBHOOK_ENV}) answered HTTP {status}")


def _plain(metadata: dict) -> dict[str, object]:
    """Metadata values a person can read in an alert: numbers and text only."""
    plain: dict[str, object] = {}
    for key, value in metadata.items():
        raw = getattr(value, "value", value)
        if isinstance(raw, _SIMPLE):
            plain[key] = raw
    return plain


@dataclass(frozen=True)
class AlertCursor:
    """Where the sensor is in the event log.

    `storage_id`: the highest event id read (a true cursor on Postgres and consolidated
    SQLite). `watermark`: the newest evaluation timestamp read; the default SQLite storage
    shards events by run, its ids are not comparable across runs, so it is queried by time
    (runs updated since `watermark - LOOKBACK`) and `reported` (event ids of failures already
    reported inside that window, with their timestamps) keeps a re-read from alerting twice.
    """

    storage_id: int = 0
    watermark: float | None = None
    reported: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data["id"]), data["ts"], {k: float(v) for k, v in data["seen"].items()})

    def dump(self) -> str:
        return json.dumps({"id": self.storage_id, "ts": self.watermark, "seen": self.reported})


# Events reach the log a moment after their timestamp; re-read this much before the watermark.
LOOKBACK_SECONDS = 15 * 60
# With no cursor yet, the first tick reports the failures of this last stretch of time.
FIRST_TICK_SECONDS = 24 * 60 * 60


def _event_id(record) -> str:
    return f"{record.event_log_entry.run_id}:{record.storage_id}"


def check_evaluation_records(instance: dg.DagsterInstance, cursor: AlertCursor, now: float) -> list:
    """ASSET_CHECK_EVALUATION records after the cursor (time window on run-sharded storage),
    oldest first."""
    since = (cursor.watermark if cursor.watermark is not None else now) - (
        LOOKBACK_SECONDS if cursor.watermark is not None else FIRST_TICK_SECONDS
    )
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            after_cursor=RunShardedEventsCursor(
                id=cursor.storage_id,
                run_updated_after=dt.datetime.fromtimestamp(since, dt.UTC),
            ),
            after_timestamp=since,
        ),
        ascending=True,
    )
    return sorted(records, key=lambda r: (r.event_log_entry.timestamp, _event_id(r)))


def to_alert(record, resolved: bool = False) -> Alert | None:
    """The alert for a failed evaluation record (or, with `resolved`, for a passed one); None
    otherwise."""
    event = record.event_log_entry.dagster_event
    evaluation = event.event_specific_data if event else None
    if evaluation is None or evaluation.passed != resolved:
        return None
    return Alert(
        resolved=resolved,
        event_id=_event_id(record),
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        severity=evaluation.severity.value,
        partition=getattr(evaluation, "partition", None),
        description=evaluation.description or "",
        run_id=record.event_log_entry.run_id,
        timestamp=record.event_log_entry.timestamp,
        metadata=_plain(dict(evaluation.metadata)),
    )


def _previous_passed(instance: dg.DagsterInstance, record: Any) -> bool | None:
    """Whether the evaluation of the same check before `record` passed; None when there is
    none."""
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    history = instance.event_log_storage.get_asset_check_execution_history(
        evaluation.asset_check_key, limit=20
    )
    ts = record.event_log_entry.timestamp
    earlier = [
        h.event
        for h in history
        if h.event is not None
        and h.event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and h.event.timestamp < ts
    ]
    if not earlier:
        return None
    latest: Any = max(earlier, key=lambda e: e.timestamp).dagster_event
    return bool(latest.event_specific_data.passed)


def _episode_alert(instance: dg.DagsterInstance, record: Any) -> Alert | None:
    """Every failure, except freshness (judged every hour): once per asset and episode, when
    it starts failing, and a "passes again" message when it recovers."""
    alert = to_alert(record)
    resolved = to_alert(record, resolved=True)
    either = alert or resolved
    if either is None or either.check != FRESHNESS_CHECK_NAME:
        return alert
    previous = _previous_passed(instance, record)
    if alert is None:
        return resolved if previous is False else None
    return None if previous is False else alert


def report_failures(
    instance: dg.DagsterInstance,
    cursor: AlertCursor,
    notifier: Notifier,
    log: logging.Logger | dg.DagsterLogManager,
    now: float | None = None,
) -> tuple[AlertCursor, int, str | None]:
    """One pass: notify every failure not reported yet. Returns (new cursor, alerts delivered,
    delivery error or None). After a delivery error the cursor keeps its position (only the
    delivered alerts are remembered), so the rest are retried next tick."""
    now = time.time() if now is None else now
    records = check_evaluation_records(instance, cursor, now)
    reported = dict(cursor.reported)
    delivered = 0
    error = None
    for record in records:
        alert = _episode_alert(instance, record)
        if alert is None or alert.event_id in reported:
            continue
        try:
            notifier.notify(alert, log)
        except AlertDeliveryError as exc:
            error = str(exc)
            break
        reported[alert.event_id] = alert.timestamp
        delivered += 1
    if error is not None or not records:
        return AlertCursor(cursor.storage_id, cursor.watermark, reported), delivered, error
    watermark = max(cursor.watermark or 0.0, records[-1].event_log_entry.timestamp)
    storage_id = max(cursor.storage_id, *(r.storage_id for r in records))
    horizon = watermark - LOOKBACK_SECONDS
    kept = {key: ts for key, ts in reported.items() if ts > horizon}
    return AlertCursor(storage_id, watermark, kept), delivered, None


@dg.sensor(
    name="check_failure_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Reports every failed asset check (WARN and ERROR) exactly once: Dagster log, plus a "
        f"JSON POST to {WEBHOOK_ENV} when set. Requests no runs."
    ),
)
def check_failure_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    cursor, delivered, error = report_failures(
        context.instance, AlertCursor.parse(context.cursor), Notifier.from_env(), context.log
    )
    if error:
        context.log.error(f"{error}; {delivered} alert(s) delivered, the rest retry next tick")
        reason = f"alert delivery failed: {error}"
    else:
        reason = f"{delivered} failed check(s) reported" if delivered else "no new check failures"
    return dg.SensorResult(skip_reason=reason, cursor=cursor.dump())

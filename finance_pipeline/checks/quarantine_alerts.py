"""The alert for quarantined partitions: every file the write-audit-publish step refused is
reported once, through the same `Notifier` as failed checks (Dagster log, plus the webhook
when set). The cursor holds the ids of the candidates already reported that are still in
quarantine, so an accepted or superseded candidate leaves it and a new refusal of the same
partition (a new time) is reported again."""

from __future__ import annotations

import json
import logging
import time

import dagster as dg

from finance_pipeline.checks.alerts import Alert, AlertDeliveryError, Notifier
from finance_pipeline.lake import Lake, lake_from_env, quarantine
from finance_pipeline.lake.quarantine import Quarantined

CHECK_NAME = "write_audit_publish"


def _id(entry: Quarantined) -> str:
    return f"quarantine:{entry.dataset}:{entry.session}:{entry.quarantined_utc}"


def to_alert(entry: Quarantined) -> Alert:
    return Alert(
        event_id=_id(entry),
        asset=entry.dataset,
        check=CHECK_NAME,
        severity="ERROR",
        partition=entry.session,
        description=(
            f"new file refused and quarantined, the stored partition is kept: {entry.reason}; "
            f"accept with `finance-pipeline accept {entry.dataset} {entry.session}`"
        ),
        run_id="",
        timestamp=time.time(),
        metadata={"rows": entry.rows, "stored_rows": entry.stored_rows or 0, "uri": entry.uri},
    )


def report_quarantined(
    lake: Lake,
    reported: set[str],
    notifier: Notifier,
    log: logging.Logger | dg.DagsterLogManager,
) -> tuple[set[str], int, str | None]:
    """(ids reported and still quarantined, alerts delivered now, delivery error or None)."""
    entries = quarantine.listing(lake.storage)
    current = {_id(entry) for entry in entries}
    done = reported & current
    delivered = 0
    for entry in entries:
        if _id(entry) in done:
            continue
        try:
            notifier.notify(to_alert(entry), log)
        except AlertDeliveryError as exc:
            return done, delivered, str(exc)
        done.add(_id(entry))
        delivered += 1
    return done, delivered, None


@dg.sensor(
    name="quarantine_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Reports every partition file the write-audit-publish step refused (kept in the lake's "
        "_quarantine) exactly once, like failed checks. Requests no runs."
    ),
)
def quarantine_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    reported = set(json.loads(context.cursor)) if context.cursor else set()
    done, delivered, error = report_quarantined(
        lake_from_env(), reported, Notifier.from_env(), context.log
    )
    reason = f"alert delivery failed: {error}" if error else f"{delivered} quarantined reported"
    return dg.SensorResult(skip_reason=reason, cursor=json.dumps(sorted(done)))

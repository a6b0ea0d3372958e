"""Freshness: the newest session each source has published must be in the lake by a deadline.

Dagster's `build_time_partition_freshness_checks` does not fit: it expects a partition once its
*day window* has ended plus one cron deadline for all assets, while a Polygon source publishes
relative to the session's close (grouped daily: the same evening; flat files: about 11:00 New
York the next day), half days close at 13:00, and it is superseded by FreshnessPolicy, which
the OSS daemon evaluates without our calendar. So one small check per source computes its own
expected session from `calendar` and a publication rule, and looks for that partition's
materialization in the instance. It is not partitioned (it judges "now"), not blocking (a late
source is not bad data) and fails at WARN. `freshness_schedule` evaluates them every hour.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from finance_pipeline.calendar import (
    NEW_YORK,
    latest_completed_session,
    partition_key,
    previous_session,
    session_close,
)
from finance_pipeline.checks.common import Verdict
from finance_pipeline.checks.support import to_result


@dataclass(frozen=True)
class PublicationRule:
    """When a source's data for a session is due in the lake."""

    asset: str
    due: Callable[[dt.date], dt.datetime]  # session -> aware deadline
    text: str


def after_close(margin: dt.timedelta) -> Callable[[dt.date], dt.datetime]:
    """Due `margin` after the session's regular close (13:00 New York on half days)."""
    return lambda session: session_close(session) + margin


def next_day_at(local: dt.time, margin: dt.timedelta) -> Callable[[dt.date], dt.datetime]:
    """Due at `local` New York time on the calendar day after the session, plus `margin`."""

    def due(session: dt.date) -> dt.datetime:
        day = session + dt.timedelta(days=1)
        return dt.datetime.combine(day, local, NEW_YORK).astimezone(dt.UTC) + margin

    return due


# Grouped daily / reference data: after the close (the free plan can lag into the evening).
_EVENING = after_close(dt.timedelta(hours=4))
# Flat files: published by ~11:00 New York the next day; 2 hours of margin for the pipeline.
_FLAT_FILES = next_day_at(dt.time(11, 0), dt.timedelta(hours=2))

RULES: tuple[PublicationRule, ...] = (
    PublicationRule("grouped_daily_bars", _EVENING, "session close + 4h"),
    PublicationRule("universe_snapshot", _EVENING, "session close + 4h"),
    PublicationRule("splits", _EVENING, "session close + 4h"),
    PublicationRule("dividends", _EVENING, "session close + 4h"),
    PublicationRule("flat_file_day_aggs", _FLAT_FILES, "next day 11:00 New York + 2h"),
    PublicationRule("flat_file_minute_aggs", _FLAT_FILES, "next day 11:00 New York + 2h"),
)


def expected_session(rule: PublicationRule, now: dt.datetime) -> dt.date:
    """The newest session whose deadline has passed by `now`."""
    session = latest_completed_session(now)
    while rule.due(session) > now:
        session = previous_session(session)
    return session


def freshness_verdict(
    rule: PublicationRule, now: dt.datetime, stored: Callable[[dt.date], bool]
) -> Verdict:
    """Passed when the expected session is stored; otherwise WARN with how late it is."""
    session = expected_session(rule, now)
    deadline = rule.due(session)
    meta: dict[str, object] = {
        "expected_session": session.isoformat(),
        "deadline": deadline.astimezone(NEW_YORK).isoformat(),
        "rule": rule.text,
    }
    if stored(session):
        return Verdict.ok(f"{rule.asset} {session} is stored (due {meta['deadline']})", **meta)
    overdue = (now - deadline).total_seconds()
    meta["overdue_seconds"] = float(overdue)
    return Verdict.warn(
        f"{rule.asset} {session} is not stored; it was due {meta['deadline']} "
        f"({rule.text}), {overdue / 3600:.1f} hours ago",
        **meta,
    )


def _materialized(instance: dg.DagsterInstance, asset: str, session: dt.date) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition_key(session)]
        ),
        limit=1,
    )
    return bool(records.records)


def freshness_check(rule: PublicationRule) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=rule.asset,
        name="fresh",
        description=(
            f"The newest session due by now ({rule.text}) has been materialized. WARN when "
            "late; not blocking; 0 API calls."
        ),
        blocking=False,
    )
    def _fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now = dt.datetime.now(dt.UTC)
        verdict = freshness_verdict(
            rule, now, lambda session: _materialized(context.instance, rule.asset, session)
        )
        return to_result(verdict)

    return _fresh


FRESHNESS_CHECKS = [freshness_check(rule) for rule in RULES]

freshness_job = dg.define_asset_job(
    "freshness_checks",
    selection=dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Evaluates every source's freshness check (no materializations).",
)

freshness_schedule = dg.ScheduleDefinition(
    name="freshness_checks_hourly",
    job=freshness_job,
    cron_schedule="20 * * * *",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly freshness checks; failures reach the alert sensor like any check.",
)

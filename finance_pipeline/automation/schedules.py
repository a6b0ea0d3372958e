"""Session-aware schedules: the daily fetch and the correction window.

Both fire every calendar day in New York time and act only on the day after a session: a tick
on day C asks for C-1 if and only if C-1 was an NYSE session. Weekends, holidays and one-off
closures therefore never produce a run, and the session before a holiday is never asked for
twice (Dagster's `build_schedule_from_partitioned_job` would re-request it, see dagster.md).

Default daily time, 00:45 New York: the partition of session D exists from 00:00 on D+1
(`end_offset=0`), free plans are refused "today's" data until after midnight (the router
expects 00:30), and paid plans have had final bars since 16:15. The 15 minutes past 00:30 are a
margin for the free plan's late end-of-day switch. The correction window runs at 12:00, after
the flat files of D are published (11:00 on D+1), so the router can pick them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg

from finance_pipeline import router
from finance_pipeline.automation.config import clock_time, daily_cron, positive_int
from finance_pipeline.automation.jobs import (
    CORRECTION_PRIORITY,
    DAILY_PRIORITY,
    correction_job,
    daily_sources_job,
)
from finance_pipeline.automation.planning import (
    Correction,
    aware,
    plan_corrections,
    plan_daily,
    session_ended_before,
)
from finance_pipeline.automation.sensors import recorded_etags
from finance_pipeline.calendar import new_york_date
from finance_pipeline.registry import FLAT_FILE_DAY_AGGS
from finance_pipeline.resources.flat_files_resource import FlatFilesResource
from finance_pipeline.settings import watchlist

TIMEZONE = "America/New_York"


def _tick_time(context: dg.ScheduleEvaluationContext) -> dt.datetime:
    when = context.scheduled_execution_time
    return aware(when) if when is not None else dt.datetime.now(dt.UTC)


def _not_a_session(tick: dt.datetime) -> dg.SkipReason:
    day = new_york_date(tick) - dt.timedelta(days=1)
    kind = "a weekend" if day.weekday() >= 5 else "an NYSE holiday or closure"
    return dg.SkipReason(f"{day} was not a trading session ({kind}): nothing to fetch")


def build_daily_schedule(time: dt.time | None = None) -> dg.ScheduleDefinition:
    """The daily fetch of the session that ended last night, as the router plans it.

    `time` defaults to FINANCE_PIPELINE_DAILY_SCHEDULE_TIME (New York)."""
    at = time or clock_time("FINANCE_PIPELINE_DAILY_SCHEDULE_TIME")

    @dg.schedule(
        name="daily_sources_schedule",
        cron_schedule=daily_cron(at),
        execution_timezone=TIMEZONE,
        job=daily_sources_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Every day at {at:%H:%M} New York: if yesterday was an NYSE session, fetch it from "
            "the sources the router picks (universe, grouped daily unless a flat file already "
            "covers it, watchlist REST fills, splits, dividends)."
        ),
    )
    def daily_sources_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        tick = _tick_time(context)
        session = session_ended_before(tick)
        if session is None:
            return _not_a_session(tick)
        targets = plan_daily(session, tick, router.Credentials.from_env(), watchlist())
        if not targets.assets:
            why = "; ".join(f"{a}: {r}" for a, r in targets.reasons.items())
            return dg.SkipReason(f"the router serves none of the daily sources of {session}: {why}")
        return dg.RunRequest(
            run_key=session.isoformat(),
            partition_key=session.isoformat(),
            asset_selection=[dg.AssetKey(asset) for asset in targets.assets],
            run_config=targets.run_config or {},
            tags={
                **targets.tags(),
                "dagster/priority": DAILY_PRIORITY,
                "finance_pipeline/trigger": "daily_sources_schedule",
            },
        )

    return daily_sources_schedule


def build_correction_schedule(
    time: dt.time | None = None, sessions: int | None = None
) -> dg.ScheduleDefinition:
    """Re-fetch the daily bars of the newest N sessions to absorb vendor corrections.

    Sessions the router serves by grouped daily are fetched again (an API source gives no sign
    of a change). Sessions it serves by flat file are fetched only when the object's ETag
    differs from the one the stored partition was loaded from, so unchanged files cost one LIST
    per month and no download. `time` defaults to FINANCE_PIPELINE_CORRECTION_SCHEDULE_TIME,
    `sessions` to FINANCE_PIPELINE_CORRECTION_SESSIONS.
    """
    at = time or clock_time("FINANCE_PIPELINE_CORRECTION_SCHEDULE_TIME")
    count = sessions or positive_int("FINANCE_PIPELINE_CORRECTION_SESSIONS")

    @dg.schedule(
        name="correction_window_schedule",
        cron_schedule=daily_cron(at),
        execution_timezone=TIMEZONE,
        job=correction_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Every day at {at:%H:%M} New York after a session: re-fetch the daily bars of the "
            f"newest {count} sessions from the source the router picks (flat files only when "
            "their ETag changed)."
        ),
    )
    def correction_window_schedule(
        context: dg.ScheduleEvaluationContext, flat_files: FlatFilesResource
    ) -> list[dg.RunRequest] | dg.SkipReason:
        tick = _tick_time(context)
        if session_ended_before(tick) is None:
            return _not_a_session(tick)
        todo, left_out = plan_corrections(tick, count, router.Credentials.from_env())
        etags = _FlatFileEtags.of(context, flat_files, todo)
        requests = []
        for item in todo:
            tags = _correction_tags(item)
            if item.asset == FLAT_FILE_DAY_AGGS:
                etag = etags.changed(item.session)
                if etag is None:
                    continue
                tags["finance_pipeline/etag"] = etag
            requests.append(
                dg.RunRequest(
                    run_key=f"correction:{new_york_date(tick)}:{item.asset}:{item.session}",
                    partition_key=item.session.isoformat(),
                    asset_selection=[dg.AssetKey(item.asset)],
                    tags=tags,
                )
            )
        if not requests:
            parts = etags.why_none() + [f"{day}: {why}" for day, why in left_out.items()]
            return dg.SkipReason("nothing to correct: " + ("; ".join(parts) or "no sessions"))
        return requests

    return correction_window_schedule


def _correction_tags(item: Correction) -> dict[str, str]:
    return {
        "dagster/priority": CORRECTION_PRIORITY,
        "finance_pipeline/trigger": "correction_window_schedule",
        "finance_pipeline/session": item.session.isoformat(),
        "finance_pipeline/planned_sources": f"{item.asset}={item.source}",
        "finance_pipeline/planned_api_calls": "1" if item.source == "grouped_daily" else "0",
    }


@dataclass
class _FlatFileEtags:
    """The day flat files' ETags now on S3 against the ones their stored partitions came from."""

    current: dict[dt.date, str]
    loaded: dict[dt.date, str]
    unchanged: list[dt.date] = field(default_factory=list)
    missing: list[dt.date] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        context: dg.ScheduleEvaluationContext,
        flat_files: FlatFilesResource,
        todo: list[Correction],
    ) -> _FlatFileEtags:
        sessions = [c.session for c in todo if c.asset == FLAT_FILE_DAY_AGGS]
        if not sessions:
            return cls({}, {})
        listed = flat_files.get_client().list_sessions("day_aggs_v1", sessions[0], sessions[-1])
        return cls(
            {day: info.etag for day, info in listed.items()},
            recorded_etags(context.instance, FLAT_FILE_DAY_AGGS, sessions),
        )

    def changed(self, session: dt.date) -> str | None:
        """The file's ETag when it differs from the stored one; None (and noted) otherwise."""
        etag = self.current.get(session)
        if etag is None:
            self.missing.append(session)  # late or removed: the sensor waits for it
        elif self.loaded.get(session) == etag:
            self.unchanged.append(session)
        else:
            return etag
        return None

    def why_none(self) -> list[str]:
        parts = []
        if self.unchanged:
            parts.append(f"flat files unchanged for {', '.join(map(str, self.unchanged))}")
        if self.missing:
            parts.append(f"flat files not published for {', '.join(map(str, self.missing))}")
        return parts

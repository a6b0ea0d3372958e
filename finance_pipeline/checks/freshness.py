"""Freshness checks: the newest session each source has published must be in the lake by a
deadline (the publication rules are in `rules.freshness`).

Dagster's `build_time_partition_freshness_checks` does not fit: it expects a partition once its
*day window* has ended plus one cron deadline for all assets, while a Polygon source publishes
relative to the session's close, and it is superseded by FreshnessPolicy, which the OSS daemon
evaluates without our calendar. So one small check per source computes its own expected session
and looks for that partition's materialization in the instance. It is not partitioned (it judges
"now"), not blocking (a late source is not bad data) and fails at WARN. `freshness_schedule`
evaluates them every hour.
"""

import datetime as dt

import dagster as dg

from finance_pipeline.calendar import partition_key
from finance_pipeline.checks.context import to_result
from finance_pipeline.checks.rules.freshness import RULES, PublicationRule, freshness_verdict


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

"""Freshness checks: the newest session each source has published must be in the lake by a
deadline (the publication rules are in `rules.freshness`).

Dagster's `build_time_partition_freshness_checks` does not fit: it expects a partition once its
*day window* has ended plus one cron deadline for all assets, while a Polygon source publishes
relative to the session's close, and it is superseded by FreshnessPolicy, which the OSS daemon
evaluates without our calendar. So one small check per source computes its own expected session
and looks for that partition's materialization in the instance. It is not partitioned (it judges
"now"), not blocking (a late source is not bad data) and fails at WARN. The schedule
`freshness_checks_hourly` evaluates them every hour; runs that materialize assets never do
(the product's jobs leave them out, and the check body declines in a run that materializes).
"""

import datetime as dt
from collections.abc import Iterator
from functools import partial

import dagster as dg

from finance_pipeline.calendar import partition_key
from finance_pipeline.checks.context import to_result
from finance_pipeline.checks.rules.freshness import (
    FRESHNESS_CHECK_NAME,
    FRESHNESS_SCHEDULE_NAME,
    RULES,
    freshness_verdict,
)


def _materialized(instance: dg.DagsterInstance, asset: str, session: dt.date) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition_key(session)]
        ),
        limit=1,
    )
    return bool(records.records)


def _materializes_assets(context: dg.AssetCheckExecutionContext) -> bool:
    return bool(context.op_execution_context.job_def.asset_layer.selected_asset_keys)


_SPECS = [
    dg.AssetCheckSpec(
        FRESHNESS_CHECK_NAME,
        asset=rule.asset,
        description=(
            f"The newest session due by now ({rule.text}) has been materialized. WARN when "
            f"late; not blocking; 0 API calls. Judged only by {FRESHNESS_SCHEDULE_NAME}."
        ),
        blocking=False,
    )
    for rule in RULES
]


@dg.multi_asset_check(
    name="freshness",
    specs=_SPECS,
    can_subset=True,
    description=(
        f"Every source's `{FRESHNESS_CHECK_NAME}` check. Evaluated only in runs that "
        f"materialize nothing ({FRESHNESS_SCHEDULE_NAME}, or the check launched alone): inside a "
        "materialization run or a backfill it would judge sessions the run has not reached yet."
    ),
)
def freshness_checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
    if _materializes_assets(context):
        context.log.info(
            f"freshness is judged by {FRESHNESS_SCHEDULE_NAME}, not inside a materialization run"
        )
        return
    now = dt.datetime.now(dt.UTC)
    selected = {key.asset_key for key in context.selected_asset_check_keys}
    for rule in RULES:
        key = dg.AssetKey(rule.asset)
        if key in selected:
            verdict = freshness_verdict(
                rule, now, partial(_materialized, context.instance, rule.asset)
            )
            yield to_result(verdict, asset_key=key, check_name=FRESHNESS_CHECK_NAME)


FRESHNESS_CHECKS = [freshness_checks]
# Every materialization job leaves these out, so its runs do not even plan them.
FRESHNESS_CHECK_KEYS = [spec.key for spec in _SPECS]

freshness_job = dg.define_asset_job(
    "freshness_checks",
    selection=dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Evaluates every source's freshness check (no materializations).",
)

freshness_schedule = dg.ScheduleDefinition(
    name=FRESHNESS_SCHEDULE_NAME,
    job=freshness_job,
    cron_schedule="20 * * * *",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly freshness checks; failures reach the alert sensor like any check.",
)

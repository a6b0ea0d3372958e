"""Freshness checks on a real instance: the hourly job against materialized partitions."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finance_pipeline.calendar import latest_completed_session
from finance_pipeline.checks.freshness import FRESHNESS_CHECKS, freshness_job, freshness_schedule
from finance_pipeline.checks.rules.freshness import RULES, expected_session

RULE = {rule.asset: rule for rule in RULES}


def test_freshness_checks_on_an_instance() -> None:
    """The hourly job's checks, against partitions materialized (or not) in a real instance."""
    defs = dg.Definitions(asset_checks=FRESHNESS_CHECKS, schedules=[freshness_schedule])
    job = defs.resolve_job_def(freshness_job.name)
    now = dt.datetime.now(dt.UTC)
    with dg.instance_for_test() as instance:
        for asset in ("grouped_daily_bars", "flat_file_day_aggs"):
            key = expected_session(RULE[asset], now).isoformat()
            instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=key))
        # An older session only: not fresh.
        stale = (latest_completed_session(now) - dt.timedelta(days=30)).isoformat()
        instance.report_runless_asset_event(dg.AssetMaterialization("splits", partition=stale))
        result = job.execute_in_process(instance=instance)
        evaluations = {
            e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()
        }
    assert set(evaluations) == {rule.asset for rule in RULES}
    assert evaluations["grouped_daily_bars"].passed
    assert evaluations["flat_file_day_aggs"].passed
    for asset in ("splits", "universe_snapshot", "flat_file_minute_aggs"):
        assert not evaluations[asset].passed
        assert evaluations[asset].severity == dg.AssetCheckSeverity.WARN

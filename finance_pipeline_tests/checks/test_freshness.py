"""Freshness: publication deadlines on the NYSE calendar, and the checks on a real instance."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from finance_pipeline.calendar import NEW_YORK, latest_completed_session
from finance_pipeline.checks.common import Severity
from finance_pipeline.checks.freshness import (
    FRESHNESS_CHECKS,
    RULES,
    expected_session,
    freshness_job,
    freshness_schedule,
    freshness_verdict,
)

RULE = {rule.asset: rule for rule in RULES}


def ny(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("asset", "now", "expected"),
    [
        # Grouped daily is due 4 hours after the close.
        ("grouped_daily_bars", ny(2024, 3, 5, 19, 59), dt.date(2024, 3, 4)),
        ("grouped_daily_bars", ny(2024, 3, 5, 20, 0), dt.date(2024, 3, 5)),
        # Half day (close 13:00): due at 17:00.
        ("grouped_daily_bars", ny(2024, 7, 3, 17, 1), dt.date(2024, 7, 3)),
        # Over a weekend and a holiday (2024-07-04): still the last session.
        ("grouped_daily_bars", ny(2024, 7, 7, 9, 0), dt.date(2024, 7, 5)),
        # Flat files: next calendar day 11:00 + 2h.
        ("flat_file_day_aggs", ny(2024, 3, 6, 12, 59), dt.date(2024, 3, 4)),
        ("flat_file_day_aggs", ny(2024, 3, 6, 13, 0), dt.date(2024, 3, 5)),
        ("flat_file_minute_aggs", ny(2024, 3, 9, 13, 30), dt.date(2024, 3, 8)),  # Sat for Fri
        ("flat_file_minute_aggs", ny(2024, 3, 9, 12, 0), dt.date(2024, 3, 7)),
    ],
)
def test_expected_session(asset: str, now: dt.datetime, expected: dt.date) -> None:
    assert expected_session(RULE[asset], now) == expected


def test_verdict_names_the_missing_session_and_how_late() -> None:
    now = ny(2024, 3, 6, 15, 0)
    rule = RULE["flat_file_day_aggs"]
    late = freshness_verdict(rule, now, lambda session: False)
    assert not late.passed and late.severity is Severity.WARN
    assert late.metadata["expected_session"] == "2024-03-05"
    assert late.metadata["overdue_seconds"] == pytest.approx(2 * 3600)
    assert "2024-03-05" in late.description
    fresh = freshness_verdict(rule, now, lambda session: session == dt.date(2024, 3, 5))
    assert fresh.passed


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

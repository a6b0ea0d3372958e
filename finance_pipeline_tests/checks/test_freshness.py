"""Freshness checks on a real instance: the hourly job against materialized partitions."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finance_pipeline.calendar import latest_completed_session
from finance_pipeline.checks.alerts import AlertCursor, Notifier, report_failures
from finance_pipeline.checks.freshness import FRESHNESS_CHECKS, freshness_job, freshness_schedule
from finance_pipeline.checks.rules.freshness import RULES, expected_session
from finance_pipeline.partitions import TRADING_SESSIONS

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


class _Log:
    """A logger that keeps what the alert sensor says."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def error(self, text: str) -> None:
        self.lines.append(("error", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def info(self, text: str) -> None:
        self.lines.append(("info", text))


def test_freshness_alerts_once_per_episode_and_clears() -> None:
    """Hourly evaluations of a late source alert once; fresh again sends one 'passes again'."""
    defs = dg.Definitions(asset_checks=FRESHNESS_CHECKS, schedules=[freshness_schedule])
    job = defs.resolve_job_def(freshness_job.name)
    splits = dg.AssetCheckKey(dg.AssetKey("splits"), "fresh")
    now = dt.datetime.now(dt.UTC)
    log = _Log()
    cursor = AlertCursor()
    with dg.instance_for_test() as instance:

        def hour() -> list[tuple[str, str]]:
            nonlocal cursor
            job.get_subset(asset_check_selection={splits}).execute_in_process(instance=instance)
            before = len(log.lines)
            cursor, _, error = report_failures(instance, cursor, Notifier(), log)  # type: ignore[arg-type]
            assert error is None
            return log.lines[before:]

        first = hour()
        assert len(first) == 1 and first[0][0] == "warning" and "splits" in first[0][1]
        assert hour() == [] and hour() == []  # the same episode: no repeats
        key = expected_session(RULE["splits"], now).isoformat()
        instance.report_runless_asset_event(dg.AssetMaterialization("splits", partition=key))
        cleared = hour()
        assert len(cleared) == 1 and cleared[0][0] == "info" and "passes again" in cleared[0][1]
        assert hour() == []


def test_materialization_runs_never_judge_freshness() -> None:
    """Neither the product's jobs nor a run materializing an asset evaluate `fresh`."""
    from finance_pipeline.definitions import defs

    for name in ("daily_sources_job", "flat_files_job", "correction_job"):
        checks = defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys
        assert not [key for key in checks if key.name == "fresh"], name

    @dg.asset(name="splits", partitions_def=TRADING_SESSIONS)
    def toy_splits() -> None:
        return None

    # The newest session that is a partition now: the session that closed today becomes one
    # only later (a test keyed to the close failed every evening between the two).
    session = TRADING_SESSIONS.get_last_partition_key()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [toy_splits, *FRESHNESS_CHECKS], instance=instance, partition_key=session
        )
    assert result.success
    assert [e for e in result.get_asset_check_evaluations() if e.check_name == "fresh"] == []

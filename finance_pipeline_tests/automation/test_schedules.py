"""The session-aware schedules, ticked for every calendar day of two ranges with closures."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import exchange_calendars as xcals
import pandas as pd
import pytest
from dagster_aws.s3 import S3Resource

from finance_pipeline.automation import daily_sources_schedule
from finance_pipeline.automation.config import AutomationConfigError
from finance_pipeline.automation.schedules import build_correction_schedule, build_daily_schedule
from finance_pipeline.calendar import recent_sessions
from finance_pipeline.registry import API_ASSETS as DAILY_ASSETS
from finance_pipeline.resources.flat_files_resource import FlatFilesResource
from finance_pipeline.sandbox import object_key
from finance_pipeline_tests.assets.support import flat_files_resource

NY = ZoneInfo("America/New_York")
CLOSURES = [
    dt.date(2024, 12, 25),
    dt.date(2025, 1, 1),
    dt.date(2025, 1, 9),
    dt.date(2012, 10, 29),
    dt.date(2012, 10, 30),
]
RANGES = [
    (dt.date(2024, 12, 20), dt.date(2025, 1, 15)),
    (dt.date(2012, 10, 25), dt.date(2012, 11, 2)),
]


def xnys_sessions(start: dt.date, end: dt.date) -> set[dt.date]:
    """An oracle independent of finance_pipeline.calendar."""
    cal = xcals.get_calendar("XNYS", start="2010-01-01")
    return {ts.date() for ts in cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))}


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.fixture
def free_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYGON_PLAN", "free")
    monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "5")
    monkeypatch.delenv("FLATFILES_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("FINANCE_PIPELINE_WATCHLIST", "AAPL,BRK.A")


@pytest.fixture
def paid_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYGON_PLAN", "paid")
    monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "0")
    monkeypatch.setenv("FLATFILES_ACCESS_KEY_ID", "sandbox-key-id")
    monkeypatch.setenv("FINANCE_PIPELINE_WATCHLIST", "AAPL,BRK.A")


@pytest.fixture
def tick(repository_def):
    def evaluate(schedule: dg.ScheduleDefinition, when: dt.datetime, **resources):
        with dg.build_schedule_context(
            scheduled_execution_time=when, resources=resources, repository_def=repository_def
        ) as ctx:
            return schedule.evaluate_tick(ctx)

    evaluate.repository_def = repository_def
    return evaluate


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_daily_schedule_requests_exactly_the_sessions(free_plan, start, end, tick) -> None:
    requested: dict[dt.date, dt.date] = {}  # tick day -> requested session
    for day in days(start, end):
        result = tick(daily_sources_schedule, dt.datetime.combine(day, dt.time(0, 45), NY))
        assert len(result.run_requests or []) <= 1
        if result.run_requests:
            request = result.run_requests[0]
            assert request.run_key == request.partition_key
            requested[day] = dt.date.fromisoformat(request.partition_key)
        else:
            assert result.skip_message and "not a trading session" in result.skip_message
    # A tick on day C asks for C-1, and only when C-1 was a session.
    assert set(requested.values()) == xnys_sessions(
        start - dt.timedelta(days=1), end - dt.timedelta(days=1)
    )
    assert all(session == day - dt.timedelta(days=1) for day, session in requested.items())
    assert len(set(requested.values())) == len(requested)  # nothing asked for twice
    assert not set(CLOSURES) & set(requested.values())
    # The tick after a closure asks for nothing (no re-request of the session before it).
    for closure in CLOSURES:
        if start <= closure <= end:
            assert closure + dt.timedelta(days=1) not in requested


def test_daily_schedule_runs_what_the_router_plans_on_a_free_plan(free_plan, tick) -> None:
    result = tick(daily_sources_schedule, dt.datetime(2025, 1, 8, 0, 45, tzinfo=NY))
    (request,) = result.run_requests
    assert request.partition_key == "2025-01-07"
    assert {k.to_user_string() for k in request.asset_selection} == set(DAILY_ASSETS)
    assert request.tags["finance_pipeline/planned_sources"] == (
        "universe_snapshot=reference,grouped_daily_bars=grouped_daily,rest_fills=rest,"
        "splits=reference,dividends=reference"
    )
    # Universe pages (active + inactive) + 1 grouped daily + 2 REST tickers + splits/dividends.
    calls = int(request.tags["finance_pipeline/planned_api_calls"])
    assert calls > 1 + 2 + 2
    assert int(request.tags["dagster/priority"]) > 0


def test_free_plan_before_end_of_day_fetches_only_reference_data(free_plan, tick) -> None:
    schedule = build_daily_schedule(dt.time(0, 10))  # before the free plan's 00:30
    (request,) = tick(schedule, dt.datetime(2025, 1, 8, 0, 10, tzinfo=NY)).run_requests
    selected = {k.to_user_string() for k in request.asset_selection}
    assert selected == {"universe_snapshot", "splits", "dividends"}
    assert (
        "grouped_daily_bars=skip (unavailable)" in request.tags["finance_pipeline/planned_sources"]
    )


def test_flat_files_published_replace_grouped_daily_and_rest(paid_plan, tick) -> None:
    schedule = build_daily_schedule(dt.time(12, 0))  # after the 11:00 flat-file publication
    (request,) = tick(schedule, dt.datetime(2025, 1, 8, 12, 0, tzinfo=NY)).run_requests
    selected = {k.to_user_string() for k in request.asset_selection}
    assert selected == {"universe_snapshot", "splits", "dividends"}
    sources = request.tags["finance_pipeline/planned_sources"]
    assert "grouped_daily_bars=skip (flat_file)" in sources
    assert "rest_fills=skip (flat_file)" in sources


def test_paid_plan_at_the_default_time_uses_grouped_daily(paid_plan, tick) -> None:
    (request,) = tick(
        daily_sources_schedule, dt.datetime(2025, 1, 8, 0, 45, tzinfo=NY)
    ).run_requests
    assert dg.AssetKey("grouped_daily_bars") in request.asset_selection


def test_schedule_time_and_window_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("FINANCE_PIPELINE_DAILY_SCHEDULE_TIME", "07:15")
    assert build_daily_schedule().cron_schedule == "15 7 * * *"
    assert build_daily_schedule().execution_timezone == "America/New_York"
    assert daily_sources_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    monkeypatch.setenv("FINANCE_PIPELINE_DAILY_SCHEDULE_TIME", "7h15")
    with pytest.raises(AutomationConfigError, match="FINANCE_PIPELINE_DAILY_SCHEDULE_TIME"):
        build_daily_schedule()
    monkeypatch.setenv("FINANCE_PIPELINE_CORRECTION_SESSIONS", "0")
    with pytest.raises(AutomationConfigError, match="FINANCE_PIPELINE_CORRECTION_SESSIONS"):
        build_correction_schedule()


def unused_flat_files() -> FlatFilesResource:
    # Never called on a plan without flat files; points at a closed port to prove it.
    return FlatFilesResource(s3=S3Resource(endpoint_url="http://127.0.0.1:9"), bucket="none")


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_correction_window_refetches_the_last_sessions(
    free_plan, monkeypatch, start, end, tick
) -> None:
    monkeypatch.setenv("FINANCE_PIPELINE_CORRECTION_SESSIONS", "5")
    schedule = build_correction_schedule()
    oracle = sorted(xnys_sessions(start - dt.timedelta(days=30), end))
    for day in days(start, end):
        result = tick(
            schedule, dt.datetime.combine(day, dt.time(12), NY), flat_files=unused_flat_files()
        )
        previous = day - dt.timedelta(days=1)
        if previous not in oracle:
            assert not result.run_requests
            continue
        expected = [d for d in oracle if d <= previous][-5:]
        requests = result.run_requests
        assert [r.partition_key for r in requests] == [d.isoformat() for d in expected]
        assert {k for r in requests for k in r.asset_selection} == {
            dg.AssetKey("grouped_daily_bars")
        }
        assert len({r.run_key for r in requests}) == 5  # and they change every day:
        assert all(day.isoformat() in r.run_key for r in requests)


def test_recent_sessions_skip_closures() -> None:
    # 03:00 on 2012-11-01: the partition of 2012-10-31 exists; 10-29 and 10-30 were closed.
    window = recent_sessions(dt.datetime(2012, 11, 1, 3, tzinfo=NY), 4)
    assert window == sorted(xnys_sessions(dt.date(2012, 10, 20), dt.date(2012, 10, 31)))[-4:]
    assert window[-1] == dt.date(2012, 10, 31)
    assert window[-2] == dt.date(2012, 10, 26)


def test_correction_window_reloads_only_changed_flat_files(paid_sandbox, tick) -> None:
    sb = paid_sandbox
    noon = dt.datetime(2025, 1, 14, 12, tzinfo=NY)  # 2025-01-13's files are out since 11:00
    sb.set_now(noon)
    window = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]
    schedule = build_correction_schedule(sessions=5)
    resource = flat_files_resource(sb)

    def etag(key: str) -> str:
        session = dt.date.fromisoformat(key)
        head = sb.s3_client().head_object(Bucket=sb.bucket, Key=object_key("day_aggs_v1", session))
        return head["ETag"].strip('"')

    # A schedule context reaches its instance through a ref: a real (temporary) instance.
    with dg.instance_for_test() as instance:

        def evaluate():
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=noon,
                resources={"flat_files": resource},
                repository_def=tick.repository_def,
            ) as ctx:
                return schedule.evaluate_tick(ctx)

        first = evaluate()
        assert [r.partition_key for r in first.run_requests] == window
        assert all(
            r.asset_selection == [dg.AssetKey("flat_file_day_aggs")] for r in first.run_requests
        )
        assert [r.tags["finance_pipeline/etag"] for r in first.run_requests] == [
            etag(k) for k in window
        ]
        # Stored from the same files: nothing to do. A restated file: that session only.
        for key in window:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key="flat_file_day_aggs",
                    partition=key,
                    metadata={"source_etags": dg.MetadataValue.json({key: etag(key)})},
                )
            )
        unchanged = evaluate()
        assert not unchanged.run_requests
        assert "flat files unchanged" in unchanged.skip_message
        sb.faults.restate("day_aggs_v1", dt.date(2025, 1, 7), price_factor=0.99)
        (request,) = evaluate().run_requests
        assert request.partition_key == "2025-01-07"
        assert request.tags["finance_pipeline/etag"] == etag("2025-01-07")


def test_the_daily_run_carries_the_planned_watchlist_to_rest_fills(free_plan, tick) -> None:
    (request,) = tick(
        daily_sources_schedule, dt.datetime(2025, 1, 8, 0, 45, tzinfo=NY)
    ).run_requests
    assert request.run_config == {"ops": {"rest_fills": {"config": {"tickers": ["AAPL", "BRK.A"]}}}}

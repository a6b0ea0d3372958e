"""The one planner: router routes to raw assets, stored partitions, the curated layer, run
config and execution batches (plain Python; the router's own rules are tested in router/)."""

import datetime as dt

import pytest

from finance_pipeline import router
from finance_pipeline.calendar import NEW_YORK, sessions_between
from finance_pipeline.registry import (
    DAILY_BARS,
    DIVIDENDS,
    FLAT_FILE_DAY_AGGS,
    FLAT_FILE_MINUTE_AGGS,
    GROUPED_DAILY_BARS,
    MINUTE_BARS,
    REST_FILLS,
    SECURITIES,
    SPLITS,
    UNIVERSE_SNAPSHOT,
    assets_of,
)
from finance_pipeline.runs.planner import CURATED_FROM_NAMED_TICKERS, Demand, plan_runs

SESSIONS = sessions_between(dt.date(2025, 1, 27), dt.date(2025, 1, 31))  # Mon..Fri
# 08:00 New York the morning after the last session: its flat files are not published yet.
MORNING_AFTER = dt.datetime(2025, 2, 1, 8, 0, tzinfo=NEW_YORK)
PAID = router.Credentials(rate_limit_per_minute=0, flat_files=True, free_plan=False)
NO_FILES = router.Credentials(rate_limit_per_minute=5, flat_files=False, free_plan=False)
WATCHLIST = ("AAPL", "MSFT")
DEMO = [
    Demand("universe"),
    Demand(DAILY_BARS),
    Demand(MINUTE_BARS, WATCHLIST),
    Demand("corporate_actions"),
]


def test_each_session_goes_to_the_raw_asset_of_its_source_then_the_curated_asset():
    plan = plan_runs([Demand(DAILY_BARS)], SESSIONS, MORNING_AFTER, PAID)
    assert plan.targets == {
        FLAT_FILE_DAY_AGGS: tuple(SESSIONS[:-1]),
        GROUPED_DAILY_BARS: (SESSIONS[-1],),
        DAILY_BARS: tuple(SESSIONS),
    }
    assert plan.api_calls == 1  # the newest session's grouped daily
    assert plan.run_config(plan.assets) is None  # nothing fetched per ticker


def test_stored_raw_partitions_are_not_fetched_again_but_the_curated_asset_runs():
    stored = {FLAT_FILE_DAY_AGGS: set(SESSIONS[:2])}
    plan = plan_runs([Demand(DAILY_BARS)], SESSIONS, MORNING_AFTER, PAID, stored=stored)
    assert plan.targets[FLAT_FILE_DAY_AGGS] == tuple(SESSIONS[2:-1])
    assert plan.targets[DAILY_BARS] == tuple(SESSIONS)
    assert plan.skipped == 2


def test_sessions_whose_curated_partition_is_stored_are_skipped_unless_forced():
    stored = {DAILY_BARS: set(SESSIONS), FLAT_FILE_DAY_AGGS: set(SESSIONS)}
    plan = plan_runs([Demand(DAILY_BARS)], SESSIONS, MORNING_AFTER, PAID, stored=stored)
    assert plan.targets == {}
    assert plan.routes[DAILY_BARS].skipped == tuple(SESSIONS)
    forced = plan_runs(
        [Demand(DAILY_BARS)], SESSIONS, MORNING_AFTER, PAID, stored=stored, force=True
    )
    assert forced.targets[FLAT_FILE_DAY_AGGS] == tuple(SESSIONS[:-1])
    assert forced.targets[DAILY_BARS] == tuple(SESSIONS)
    assert forced.skipped == 0


def test_sessions_covered_by_minute_flat_files_get_no_rest_fills():
    """Formerly decided inside rest_fills: a covered session costs no REST call at all."""
    plan = plan_runs([Demand(MINUTE_BARS, WATCHLIST)], SESSIONS, MORNING_AFTER, PAID)
    assert plan.targets[FLAT_FILE_MINUTE_AGGS] == tuple(SESSIONS[:-1])
    assert plan.targets[REST_FILLS] == (SESSIONS[-1],)
    covered = plan.routes[MINUTE_BARS].sessions[0]
    assert covered.source == "flat_file"
    assert covered.api_calls == 0
    assert covered.old_path_calls - covered.api_calls == len(WATCHLIST)
    assert plan.api_calls == len(WATCHLIST)  # one REST call per ticker, newest session only


def test_the_planned_tickers_reach_the_rest_fills_in_run_config():
    plan = plan_runs([Demand(MINUTE_BARS, WATCHLIST)], SESSIONS, MORNING_AFTER, NO_FILES)
    assert plan.targets[REST_FILLS] == tuple(SESSIONS)
    assert plan.run_config([REST_FILLS, MINUTE_BARS]) == {
        "ops": {REST_FILLS: {"config": {"tickers": list(WATCHLIST)}}}
    }
    assert plan.run_config([MINUTE_BARS]) is None


def test_reconcile_adds_grouped_daily_where_flat_files_serve():
    plan = plan_runs(DEMO, SESSIONS, MORNING_AFTER, PAID, reconcile=True, market_size=300)
    assert plan.targets[GROUPED_DAILY_BARS] == tuple(SESSIONS)
    assert plan.targets[FLAT_FILE_DAY_AGGS] == tuple(SESSIONS[:-1])
    assert plan.targets[UNIVERSE_SNAPSHOT] == tuple(SESSIONS)
    assert plan.targets[SPLITS] == plan.targets[DIVIDENDS] == tuple(SESSIONS)
    # universe: active + inactive pages per session; grouped daily: 1 per session; REST fills:
    # 1 per ticker; splits and dividends: 1 call each for the whole range.
    assert plan.api_calls == 2 * len(SESSIONS) + len(SESSIONS) + len(WATCHLIST) + 2


def test_batches_run_sources_before_the_curated_layer_and_keep_rest_sessions_apart():
    plan = plan_runs(DEMO, SESSIONS, MORNING_AFTER, PAID, reconcile=True)
    batches = plan.batches()
    order = [asset for batch in batches for asset in batch.targets]
    assert order.index(DAILY_BARS) > order.index(FLAT_FILE_DAY_AGGS)
    assert order.index(MINUTE_BARS) > order.index(REST_FILLS)
    curated = [b for b in batches if MINUTE_BARS in b.targets]
    assert [b.targets[MINUTE_BARS] for b in curated] == [tuple(SESSIONS[:-1]), (SESSIONS[-1],)]
    assert curated[-1].title == CURATED_FROM_NAMED_TICKERS
    planned = sorted((a, d) for b in batches for a, days in b.targets.items() for d in days)
    assert planned == sorted((a, d) for a, days in plan.targets.items() for d in days)


def test_a_demand_the_router_cannot_plan_is_refused_by_the_router():
    with pytest.raises(router.InvalidRequest, match="naive"):
        plan_runs([Demand(DAILY_BARS)], SESSIONS, dt.datetime(2025, 2, 1, 8), PAID)


def test_a_request_reads_only_the_assets_of_its_dataset():
    assert set(assets_of(DAILY_BARS)) == {FLAT_FILE_DAY_AGGS, GROUPED_DAILY_BARS, DAILY_BARS}
    assert set(assets_of("corporate_actions")) == {SPLITS, DIVIDENDS}
    assert REST_FILLS in assets_of(MINUTE_BARS) and UNIVERSE_SNAPSHOT not in assets_of(MINUTE_BARS)


def test_the_security_master_runs_on_the_last_universe_session_fetched():
    plan = plan_runs(DEMO, SESSIONS, MORNING_AFTER, PAID)
    assert plan.targets[UNIVERSE_SNAPSHOT] == tuple(SESSIONS)
    assert plan.targets[SECURITIES] == (SESSIONS[-1],)
    (derived,) = [b for b in plan.batches() if SECURITIES in b.targets]
    assert [b.title for b in plan.batches()].index(derived.title) > 1  # after the universe
    stored = {UNIVERSE_SNAPSHOT: set(SESSIONS)}
    again = plan_runs([Demand("universe")], SESSIONS, MORNING_AFTER, PAID, stored=stored)
    assert SECURITIES not in again.targets  # nothing new: the stored master stands

"""On clean sandbox data every partitioned check passes, session after session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from finance_pipeline.assets import (
    flat_file_day_aggs,
    flat_file_minute_aggs,
    grouped_daily_bars,
    rest_fills,
    universe_snapshot,
)
from finance_pipeline.calendar import sessions_between
from finance_pipeline.checks.quality import CHECK_NAMES
from finance_pipeline.checks.rules.comparison import sample_tickers
from finance_pipeline.lake import Lake
from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.assets.support import RANGE_END, RANGE_START, sandbox_resources
from finance_pipeline_tests.checks.support import checks_for, evaluations, meta, run_with_checks
from finance_pipeline_tests.conftest import SANDBOX_DEFAULTS

# Around the 2024-11-29 half day (Thanksgiving, 11-28, is not a session).
SESSIONS = sessions_between(dt.date(2024, 11, 27), dt.date(2024, 12, 2))
ASSETS = [universe_snapshot, grouped_daily_bars, flat_file_day_aggs, flat_file_minute_aggs]
FILL_TICKERS = ["BRK.A", "KIMpL", "NA"]
RECONCILIATIONS = {
    ("grouped_daily_bars", "matches_rest_sample"),
    ("flat_file_day_aggs", "matches_grouped_daily"),
    ("flat_file_minute_aggs", "consistent_with_day_aggs"),
    ("rest_fills", "matches_flat_file_minutes"),
    ("universe_snapshot", "covers_traded_tickers"),
}
BAR_ASSETS = ("grouped_daily_bars", "flat_file_day_aggs", "flat_file_minute_aggs", "rest_fills")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    """A small market of our own (60 tickers), so the module does not depend on test order."""
    cache = tmp_path_factory.mktemp("clean-market-cache")
    with Sandbox(**{**SANDBOX_DEFAULTS, "tickers": 60}, cache_dir=cache) as sb:
        yield sb


@pytest.fixture(scope="module")
def clean_runs(sandbox, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    resources = sandbox_resources(sandbox, lake)
    run_config = {"ops": {"rest_fills": {"config": {"tickers": FILL_TICKERS}}}}
    results = {}
    with dg.instance_for_test() as instance:
        for session in SESSIONS:
            before = sandbox.counters.rest_requests["aggs"]
            result = run_with_checks(
                [*ASSETS, rest_fills], resources, session, instance, run_config=run_config
            )
            results[session] = (result, sandbox.counters.rest_requests["aggs"] - before)
    return results


def test_every_check_passes_on_clean_data(clean_runs) -> None:
    expected = RECONCILIATIONS | {(asset, name) for asset in BAR_ASSETS for name in CHECK_NAMES}
    for session, (result, _) in clean_runs.items():
        assert result.success, session
        found = evaluations(result)
        assert set(found) == expected, session
        failed = {key: e.description for key, e in found.items() if not e.passed}
        assert failed == {}, session
        for evaluation in found.values():
            assert evaluation.partition == session.isoformat()


def test_reconciliations_compare_real_rows(clean_runs, sandbox) -> None:
    for session, (result, aggs_calls) in clean_runs.items():
        found = evaluations(result)
        rest = meta(found[("grouped_daily_bars", "matches_rest_sample")])
        # The old path costs one call per sampled ticker, and the metadata says so.
        assert rest["api_calls"] == 5
        assert aggs_calls == 5 + len(FILL_TICKERS)
        day = sandbox.market.day_bars(session)
        non_otc = day.loc[~day["otc"], "ticker"]
        assert rest["sample"] == ", ".join(sample_tickers(non_otc, session, 5))
        assert rest["rows_compared"] == rest["matched"] == 5

        flat = meta(found[("flat_file_day_aggs", "matches_grouped_daily")])
        listed = non_otc[~non_otc.str.contains("TEST") & (non_otc != "ZVZZT")]
        assert flat["rows_compared"] == flat["matched"] == len(listed)
        assert flat["only_left"] == flat["only_right"] == flat["mismatched"] == 0
        assert flat["api_calls"] == 0

        minutes = meta(found[("flat_file_minute_aggs", "consistent_with_day_aggs")])
        assert minutes["rows_compared"] == len(listed) and minutes["mismatched"] == 0

        fills = meta(found[("rest_fills", "matches_flat_file_minutes")])
        assert fills["rows_compared"] > 0 and fills["matched"] == fills["rows_compared"]

        universe = meta(found[("universe_snapshot", "covers_traded_tickers")])
        assert universe["coverage_share"] >= 0.9

        test_symbols = meta(found[("flat_file_day_aggs", "test_symbols")])
        assert test_symbols["test_symbol_rows"] >= 1  # ZVZZT trades: flagged, not refused


def test_row_count_check_uses_the_stored_history(clean_runs) -> None:
    histories = [
        meta(evaluations(result)[("grouped_daily_bars", "row_count")])["history_sessions"]
        for result, _ in clean_runs.values()
    ]
    assert histories == list(range(len(SESSIONS)))


RANGE_CHECKS = ("matches_grouped_daily", "session_window", "schema", "row_count")


def test_a_range_run_checks_every_session(sandbox, tmp_path) -> None:
    """Flat-file backfills run many sessions at once: the checks then judge each of them."""
    lake = tmp_path / "lake"
    resources = sandbox_resources(sandbox, lake)
    first, last = SESSIONS[0], SESSIONS[-1]
    with dg.instance_for_test() as instance:
        for session in SESSIONS:
            dg.materialize(
                [grouped_daily_bars],
                resources=resources,
                partition_key=str(session),
                instance=instance,
            )
        result = dg.materialize(
            [flat_file_day_aggs, *checks_for([flat_file_day_aggs])],
            resources=resources,
            instance=instance,
            tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        )
        # What the check's Partitions tab and the graph badge read: every session passed.
        checks = [dg.AssetCheckKey(dg.AssetKey("flat_file_day_aggs"), n) for n in RANGE_CHECKS]
        infos = instance.event_log_storage.get_asset_check_partition_info(checks)
    assert result.success
    keys = sorted(s.isoformat() for s in SESSIONS)
    by_check: dict[str, dict[str, Any]] = {}
    for e in result.get_asset_check_evaluations():
        if e.asset_key == dg.AssetKey("flat_file_day_aggs"):
            by_check.setdefault(e.check_name, {})[e.partition] = e
    for name in RANGE_CHECKS:
        assert sorted(by_check[name]) == keys, name  # one result per session, none per run
        assert all(e.passed for e in by_check[name].values()), name
    status = {(i.check_key.name, i.partition_key): i for i in infos}
    for name in RANGE_CHECKS:
        for key in keys:
            info = status[(name, key)]
            assert info.latest_execution_status.value == "SUCCEEDED" and info.is_current
    stored = {
        s.isoformat(): Lake(str(lake)).read("flat_file_day_aggs", s).num_rows for s in SESSIONS
    }
    # Each session's own figures; ZVZZT is left out of the comparison: one row per session.
    for key, evaluation in by_check["matches_grouped_daily"].items():
        own = meta(evaluation)
        assert own["rows_compared"] == own["matched"] == stored[key] - 1

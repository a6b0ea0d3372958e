import datetime as dt

import pyarrow.compute as pc
import pytest

from finance_pipeline import schemas
from finance_pipeline.assets import grouped_daily_bars
from finance_pipeline.assets.common import new_york_midnight
from finance_pipeline.assets.grouped_daily import SESSIONS_PER_RUN
from finance_pipeline_tests.assets.support import (
    digest,
    failure_text,
    metadata_of,
    partition_file,
    read_partition,
    run,
    run_totals_of,
    sandbox_resources,
    session_metadata_of,
)

SESSION = dt.date(2025, 1, 15)
HALF_DAY = dt.date(2024, 11, 29)
NUMBERS = ("dagster/row_count", "api_calls", "s3_gets", "bytes", "seconds", "calls_saved")


@pytest.mark.parametrize("session", [SESSION, HALF_DAY])
def test_grouped_daily_stores_the_non_otc_market_in_one_call(sandbox, tmp_path, session):
    before = sandbox.counters.rest_requests["grouped_daily"]
    result = run([grouped_daily_bars], sandbox_resources(sandbox, tmp_path), session=session)

    table = read_partition(tmp_path, "grouped_daily_bars", session)
    assert table.schema.equals(schemas.GROUPED_DAILY_BARS)
    market = sandbox.market.day_bars(session)
    expected = market[~market["otc"]].sort_values("ticker")
    got = table.to_pandas().sort_values("ticker")
    assert got["ticker"].tolist() == expected["ticker"].tolist()
    assert got["close"].tolist() == pytest.approx(expected["close"].tolist(), rel=1e-9)
    assert got["volume"].tolist() == pytest.approx(expected["volume"].tolist(), rel=1e-9)
    assert set(table["session"].to_pylist()) == {session}
    # Stored at the day bar's window start (00:00 New York), not grouped daily's 16:00 stamp.
    window_starts = pc.unique(table["window_start"].cast("int64")).to_pylist()
    assert window_starts == [new_york_midnight(session).value]
    assert window_starts == sorted(set(expected["window_start"]))

    metadata = metadata_of(result, "grouped_daily_bars")
    calls = sandbox.counters.rest_requests["grouped_daily"] - before
    assert metadata["api_calls"] == calls == 1
    assert metadata["dagster/row_count"] == len(expected)
    assert metadata["tickers"] == len(expected)
    assert metadata["calls_saved"] == len(expected) - 1
    for key in NUMBERS:
        assert isinstance(metadata[key], int | float), key


def test_include_otc_config_adds_otc_rows(sandbox, tmp_path):
    run_config = {"ops": {"grouped_daily_bars": {"config": {"include_otc": True}}}}
    run(
        [grouped_daily_bars],
        sandbox_resources(sandbox, tmp_path),
        session=SESSION,
        run_config=run_config,
    )
    table = read_partition(tmp_path, "grouped_daily_bars", SESSION)
    market = sandbox.market.day_bars(SESSION)
    assert table.num_rows == len(market)
    assert pc.sum(table["otc"]).as_py() == int(market["otc"].sum()) > 0


def test_rematerializing_gives_identical_bytes(sandbox, tmp_path):
    resources = sandbox_resources(sandbox, tmp_path)
    run([grouped_daily_bars], resources, session=SESSION)
    first = digest(partition_file(tmp_path, "grouped_daily_bars", SESSION))
    run([grouped_daily_bars], resources, session=SESSION)
    assert digest(partition_file(tmp_path, "grouped_daily_bars", SESSION)) == first


def test_failed_fetches_leave_the_stored_partition_untouched(fresh_sandbox, tmp_path):
    sb = fresh_sandbox()
    resources = sandbox_resources(sb, tmp_path, max_retries=2)
    run([grouped_daily_bars], resources, session=SESSION)
    path = partition_file(tmp_path, "grouped_daily_bars", SESSION)
    good = digest(path)

    # A 5xx storm longer than the retry budget (1 try + 2 retries).
    sb.faults.server_errors(count=10, status=503, endpoint="grouped_daily")
    result = run([grouped_daily_bars], resources, session=SESSION, raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "503" in message and "grouped_daily" in message and "after 2 retries" in message
    assert digest(path) == good
    sb.faults.clear()

    # An empty whole-market answer on a trading session is an error, never stored.
    sb.faults.empty_grouped_daily(SESSION)
    result = run([grouped_daily_bars], resources, session=SESSION, raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "no results for trading session" in message and str(SESSION) in message
    assert digest(path) == good


def test_a_range_run_stores_each_session_with_its_own_figures(sandbox, tmp_path):
    first, last = dt.date(2025, 1, 13), dt.date(2025, 1, 15)
    assert grouped_daily_bars.backfill_policy.max_partitions_per_run == SESSIONS_PER_RUN > 1
    before = sandbox.counters.rest_requests["grouped_daily"]
    result = run([grouped_daily_bars], sandbox_resources(sandbox, tmp_path), sessions=(first, last))

    assert sandbox.counters.rest_requests["grouped_daily"] - before == 3  # one call a session
    figures = session_metadata_of(result, "grouped_daily_bars")
    assert sorted(figures) == ["2025-01-13", "2025-01-14", "2025-01-15"]
    for key, meta in figures.items():
        session = dt.date.fromisoformat(key)
        table = read_partition(tmp_path, "grouped_daily_bars", session)
        assert set(table["session"].to_pylist()) == {session}
        market = sandbox.market.day_bars(session)
        assert meta["dagster/row_count"] == table.num_rows == int((~market["otc"]).sum())
        assert meta["api_calls"] == 1
        assert meta["calls_saved"] == meta["tickers"] - 1
    totals = run_totals_of(result, "grouped_daily_bars")
    assert totals["api_calls"] == 3 and totals["run_sessions"] == 3
    assert totals["dagster/row_count"] == sum(m["dagster/row_count"] for m in figures.values())


def test_a_range_run_sends_its_calls_together(fresh_sandbox, tmp_path):
    """While one session's call is held by the vendor, the run's other calls still go out: a
    window's free slots are used at once, not one round trip at a time."""
    first, last = dt.date(2025, 1, 13), dt.date(2025, 1, 15)
    sandbox = fresh_sandbox()
    sandbox.faults.hang(count=1, endpoint="grouped_daily", max_seconds=1.0)
    run([grouped_daily_bars], sandbox_resources(sandbox, tmp_path), sessions=(first, last))

    paths = [r.path for r in sandbox.counters.request_log if r.endpoint == "grouped_daily"]
    (held,) = [path for path in set(paths) if paths.count(path) == 2]  # it was sent again
    assert len(paths) == 4 and len(set(paths)) == 3
    retried_at = paths.index(held, paths.index(held) + 1)
    assert set(paths[:retried_at]) == set(paths)  # every session was asked before the retry
    for day in (first, dt.date(2025, 1, 14), last):
        assert read_partition(tmp_path, "grouped_daily_bars", day).num_rows > 0

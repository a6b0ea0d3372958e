import datetime as dt

import pytest

from finance_pipeline import schemas
from finance_pipeline.assets import rest_fills
from finance_pipeline_tests.assets.support import (
    metadata_of,
    read_partition,
    run,
    sandbox_resources,
)

SESSION = dt.date(2025, 1, 15)


@pytest.fixture
def free_plan(monkeypatch):
    """Credentials without flat files: the router sends minute fills to REST."""
    monkeypatch.setenv("POLYGON_PLAN", "free")
    monkeypatch.delenv("FLATFILES_ACCESS_KEY_ID", raising=False)


@pytest.fixture
def paid_plan_with_flat_files(monkeypatch, sandbox):
    monkeypatch.setenv("POLYGON_PLAN", "paid")
    monkeypatch.setenv("FLATFILES_ACCESS_KEY_ID", sandbox.s3_access_key_id)


def config(**values) -> dict:
    return {"ops": {"rest_fills": {"config": values}}}


def test_watchlist_minute_bars_one_call_per_ticker(sandbox, tmp_path, free_plan, monkeypatch):
    monkeypatch.setenv("FINANCE_PIPELINE_WATCHLIST", "AAPL, BRK.A,NOPE")
    before = sandbox.counters.rest_requests["aggs"]
    result = run([rest_fills], sandbox_resources(sandbox, tmp_path), session=SESSION)

    table = read_partition(tmp_path, "rest_fills", SESSION)
    assert table.schema.equals(schemas.REST_FILLS)
    expected = sandbox.market.minute_bars(SESSION, tickers=["AAPL", "BRK.A"])
    got = table.to_pandas().sort_values(["ticker", "window_start"])
    assert table.num_rows == len(expected) > 0
    assert got["ticker"].tolist() == expected["ticker"].tolist()
    assert got["window_start"].astype("int64").tolist() == expected["window_start"].tolist()
    assert got["close"].tolist() == pytest.approx(expected["close"].tolist(), rel=1e-9)
    assert set(got["session"]) == {SESSION}

    metadata = metadata_of(result, "rest_fills")
    calls = sandbox.counters.rest_requests["aggs"] - before
    assert metadata["api_calls"] == calls == 3
    assert metadata["tickers"] == 2
    assert metadata["calls_saved"] == 0  # the same path as the old one, for three tickers
    assert "NOPE" in metadata["tickers_without_data"]  # reported, not fatal
    assert metadata["empty_tickers"] + metadata["unknown_tickers"] == 1


def test_the_configured_tickers_are_fetched_even_where_flat_files_cover_the_session(
    sandbox, tmp_path, paid_plan_with_flat_files
):
    """The planner decides (runs/test_planner.py: covered sessions get no REST fills); the asset
    fetches what its run config names and does not ask the router again."""
    result = run(
        [rest_fills],
        sandbox_resources(sandbox, tmp_path),
        session=SESSION,
        run_config=config(tickers=["MSFT"]),
    )
    expected = sandbox.market.minute_bars(SESSION, tickers=["MSFT"])
    assert read_partition(tmp_path, "rest_fills", SESSION).num_rows == len(expected) > 0
    assert metadata_of(result, "rest_fills")["api_calls"] == 1


def test_one_tickers_invalid_answers_do_not_fail_the_run(fresh_sandbox, tmp_path, free_plan):
    sb = fresh_sandbox()
    # 1 try + 2 retries of the first ticker answer `results: null`; the second ticker is fine.
    sb.faults.invalid_answers("results_null", count=3, endpoint="aggs")
    result = run(
        [rest_fills],
        sandbox_resources(sb, tmp_path, max_retries=2),
        session=SESSION,
        run_config=config(tickers=["AAPL", "MSFT"]),
    )
    assert result.success
    table = read_partition(tmp_path, "rest_fills", SESSION)
    assert set(table.column("ticker").to_pylist()) == {"MSFT"}
    metadata = metadata_of(result, "rest_fills")
    assert metadata["invalid_answer_tickers"] == 1
    assert "AAPL" in metadata["tickers_without_data"]

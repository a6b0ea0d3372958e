"""PolygonClient against the sandbox market over loopback: frames, call accounting, faults."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import numpy as np
import pytest

from finance_pipeline.clients.polygon_rest import (
    AGGS_COLUMNS,
    DIVIDENDS_COLUMNS,
    GROUPED_DAILY_COLUMNS,
    SNAPSHOT_COLUMNS,
    SPLITS_COLUMNS,
    TICKERS_COLUMNS,
    PolygonAuthError,
    PolygonClient,
    PolygonInvalidAnswerError,
    PolygonNotEntitledError,
    PolygonUnavailableError,
)
from finance_pipeline.sandbox import Sandbox

# Tuesday 2025-02-04 13:00 New York: 2025-02-03 is complete, 2025-02-04 is "today".
NOW = dt.datetime(2025, 2, 4, 18, 0, tzinfo=dt.UTC)
SESSION = dt.date(2025, 2, 3)
TODAY = dt.date(2025, 2, 4)
PRICES = ["open", "high", "low", "close"]


@pytest.fixture(scope="module")
def sb():
    # > 1000 listings, so reference tickers take two pages of limit=1000. The window only sets
    # Retry-After (1 s) on injected 429s: this paid plan has no rate limit.
    with Sandbox(
        tickers=1100, seed=11, now=NOW, rate_limit_window_seconds=1.0, send_retry_after=True
    ) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb, tmp_path):
    sb.faults.clear()
    sb.reset_counters()
    return PolygonClient(
        sb.api_key,
        base_url=sb.rest_url,
        rate_limit_per_minute=0,
        connect_timeout_seconds=2.0,
        read_timeout_seconds=10.0,
        max_retries=4,
        backoff_seconds=0.05,
        limiter_dir=str(tmp_path),
    )


def assert_columns(frame, columns: dict[str, str]) -> None:
    assert list(frame.columns) == list(columns)
    assert {c: str(t) for c, t in frame.dtypes.items()} == columns


def settled_counters(sb: Sandbox, total: int):
    """The sandbox's counters once `total` requests are logged (it logs after answering)."""
    deadline = time.monotonic() + 10
    counters = sb.counters
    while len(counters.request_log) < total and time.monotonic() < deadline:
        time.sleep(0.02)
        counters = sb.counters
    return counters


def assert_counts_match(client: PolygonClient, sb: Sandbox) -> None:
    assert client.calls == settled_counters(sb, client.total_calls).rest_requests
    assert client.total_calls == len(sb.counters.request_log)


def test_grouped_daily_matches_the_raw_market(client, sb):
    frame = client.grouped_daily(SESSION)
    assert_columns(frame, GROUPED_DAILY_COLUMNS)
    market = sb.market.day_bars(SESSION)
    listed = market[~market["otc"]].set_index("ticker")
    got = frame.set_index("ticker")
    assert sorted(got.index) == sorted(listed.index)
    assert not got["otc"].any()
    assert np.allclose(got[PRICES], listed.loc[got.index, PRICES], rtol=1e-4)
    assert np.array_equal(got["volume"], listed.loc[got.index, "volume"])
    close_ms = int(dt.datetime(2025, 2, 3, 21, 0, tzinfo=dt.UTC).timestamp() * 1000)
    assert set(got["timestamp"]) == {close_ms}  # 16:00 New York

    with_otc = client.grouped_daily(SESSION, include_otc=True)
    assert len(with_otc) == len(market)
    assert set(with_otc.loc[with_otc["otc"], "ticker"]) == set(market.loc[market["otc"], "ticker"])
    assert client.calls == {"grouped_daily": 2}
    assert_counts_match(client, sb)


def test_unfinished_session_is_an_invalid_answer_after_retries(client, sb):
    # An empty whole-market answer on a session is not data (answers.invalid_answer).
    with pytest.raises(PolygonInvalidAnswerError, match="not published yet"):
        client.grouped_daily(TODAY)
    assert client.retries["grouped_daily"] == 4


def test_a_weekend_gives_an_empty_typed_frame(client, sb):
    frame = client.grouped_daily(dt.date(2025, 2, 1))
    assert frame.empty
    assert_columns(frame, GROUPED_DAILY_COLUMNS)


def test_day_and_minute_aggs_are_raw(client, sb):
    start = dt.date(2025, 1, 27)
    days = client.aggs("BRK.A", 1, "day", start, SESSION)
    assert_columns(days, AGGS_COLUMNS)
    sessions = [s for s in sb.market.sessions if start <= s <= SESSION]
    expected = [sb.market.day_bars(s).set_index("ticker").loc["BRK.A", "close"] for s in sessions]
    assert np.allclose(days["close"], expected, rtol=1e-4)

    minutes = client.aggs("NA", 1, "minute", SESSION, SESSION)
    market = sb.market.minute_bars(SESSION, ["NA"])
    assert len(minutes) == len(market) > 0
    assert minutes["volume"].sum() == pytest.approx(market["volume"].sum())
    assert client.calls == {"aggs": 2}
    assert_counts_match(client, sb)


def test_reference_tickers_span_pages(client, sb):
    frame = client.tickers(SESSION, active=True)
    assert_columns(frame, TICKERS_COLUMNS)
    market = sb.market.tickers_as_of(SESSION, True)
    expected = market.loc[market["market"] == "stocks", "ticker"].tolist()
    assert len(expected) > 1000
    assert frame["ticker"].tolist() == expected
    assert frame["active"].all()
    assert client.calls == {"tickers": 2}
    assert_counts_match(client, sb)


def test_splits_dividends_snapshot_and_status(client, sb):
    splits = client.splits(sb.start, sb.end)
    assert_columns(splits, SPLITS_COLUMNS)
    market_splits = sb.market.splits()
    # v3 as recorded: no ids; the vendor's duplicate kept.
    assert splits["id"].isna().all() and len(splits) == len(market_splits)
    assert sorted(splits["ticker"]) == sorted(market_splits["ticker"])
    dividends = client.dividends(sb.start, sb.end)
    assert_columns(dividends, DIVIDENDS_COLUMNS)
    assert dividends["id"].isna().all() and len(dividends) == len(sb.market.dividends())
    assert dividends["currency"].isna().any() and (dividends["currency"] == "USD").any()
    v1 = client.stocks_dividends(sb.start, sb.end)
    assert sorted(v1["id"]) == sorted(sb.market.dividends()["id"])
    assert v1["currency"].eq("USD").all() and v1["historical_adjustment_factor"].between(0, 1).all()
    narrow = client.dividends(SESSION, SESSION)
    ex_dates = sb.market.dividends()["ex_dividend_date"]
    assert len(narrow) == int((ex_dates == SESSION).sum())

    snapshot = client.snapshot(["AAPL", "NA"])
    assert_columns(snapshot, SNAPSHOT_COLUMNS)
    assert sorted(snapshot["ticker"]) == ["AAPL", "NA"]
    previous = sb.market.day_bars(SESSION).set_index("ticker")
    aapl = snapshot.set_index("ticker").loc["AAPL"]
    assert aapl["prev_close"] == pytest.approx(previous.loc["AAPL", "close"], rel=1e-4)

    assert client.market_status()["market"] in {"open", "closed", "extended-hours"}
    assert client.calls == {
        "v3_splits": 1,
        "v3_dividends": 2,
        "v1_dividends": 1,
        "snapshot": 1,
        "market_status": 1,
    }
    assert_counts_match(client, sb)


def test_a_5xx_burst_is_retried_and_counted(client, sb):
    sb.faults.server_errors(3, status=503, endpoint="grouped_daily")
    frame = client.grouped_daily(SESSION)
    assert not frame.empty
    assert client.calls["grouped_daily"] == 4
    assert client.retries["grouped_daily"] == 3
    assert settled_counters(sb, 4).rest_statuses == {503: 3, 200: 1}
    assert_counts_match(client, sb)


def test_a_429_storm_is_absorbed_honouring_retry_after(client, sb):
    sb.faults.rate_limit_storm(3, endpoint="market_status")
    client.market_status()
    assert client.rate_limited["market_status"] == 3
    counters = settled_counters(sb, 4)
    assert counters.rest_statuses == {429: 3, 200: 1}
    arrivals = [r.monotonic for r in counters.request_log]
    # The sandbox says Retry-After: 1; the client's own backoff would be 0.05-0.4 s.
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(arrivals))
    assert_counts_match(client, sb)


def test_a_hung_response_is_cut_by_the_read_timeout(sb, tmp_path):
    sb.faults.clear()
    sb.reset_counters()
    sb.faults.hang(2, endpoint="grouped_daily", max_seconds=60)
    client = PolygonClient(
        sb.api_key,
        base_url=sb.rest_url,
        rate_limit_per_minute=0,
        read_timeout_seconds=0.5,
        max_retries=1,
        backoff_seconds=0.01,
        limiter_dir=str(tmp_path),
    )
    with pytest.raises(PolygonUnavailableError, match="read timed out"):
        client.grouped_daily(SESSION)
    assert client.calls["grouped_daily"] == 2
    # The sandbox logs a dropped hung request once it notices the disconnect.
    assert settled_counters(sb, 2).rest_requests["grouped_daily"] == 2
    assert sb.faults.pending_transport() == 0


def test_a_bad_key_is_an_auth_error_that_does_not_leak_it(sb, tmp_path):
    bad_key = sb.api_key[:-6] + "XXXXXX"
    client = PolygonClient(
        bad_key, base_url=sb.rest_url, rate_limit_per_minute=0, limiter_dir=str(tmp_path)
    )
    with pytest.raises(PolygonAuthError) as caught:
        client.grouped_daily(SESSION)
    message = str(caught.value)
    assert "Unknown API Key" in message
    assert bad_key not in message and sb.api_key not in message
    assert client.calls["grouped_daily"] == 1


@pytest.fixture(scope="module")
def free_sb():
    with Sandbox(tickers=40, seed=5, now=NOW, plan="free") as sandbox:
        yield sandbox


def free_client(free_sb, tmp_path) -> PolygonClient:
    return PolygonClient(
        free_sb.api_key,
        base_url=free_sb.rest_url,
        rate_limit_per_minute=free_sb.rate_limit,
        rate_limit_window_seconds=free_sb.rate_limit_window_seconds,
        max_retries=0,
        limiter_dir=str(tmp_path),
    )


def test_free_plan_today_before_end_of_day_is_explained(free_sb, tmp_path):
    client = free_client(free_sb, tmp_path)
    with pytest.raises(PolygonNotEntitledError) as caught:
        client.grouped_daily(TODAY)
    message = str(caught.value)
    assert "today's data before end of day" in message
    assert "free plans get a session only after the end of day" in message
    assert free_sb.api_key not in message


def test_free_plan_snapshot_is_not_entitled(free_sb, tmp_path):
    client = free_client(free_sb, tmp_path)
    with pytest.raises(PolygonNotEntitledError, match=r"not entitled.*paid plan"):
        client.snapshot()

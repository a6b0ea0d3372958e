"""Grouped daily and per-ticker aggregates over HTTP, through the official polygon.RESTClient."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import polygon
import pytest

from finance_pipeline.calendar import NEW_YORK, previous_session, sessions_between
from finance_pipeline_tests.sandbox.rest.support import (
    D,
    client,
    get,
    ms_at,
)

HALF_DAY = D("2024-11-29")


def test_grouped_daily_is_the_markets_raw_day_bars_with_t_at_1600_new_york(sandbox):
    bars = client(sandbox).get_grouped_daily_aggs(HALF_DAY.isoformat(), adjusted=False)
    market = sandbox.market.day_bars(HALF_DAY)
    market = market[~market["otc"]].set_index("ticker")
    assert isinstance(bars[0], polygon.rest.models.GroupedDailyAgg)
    assert sorted(b.ticker for b in bars) == sorted(market.index)
    for bar in bars:
        row = market.loc[bar.ticker]
        assert (bar.open, bar.high, bar.low, bar.close) == (
            row["open"],
            row["high"],
            row["low"],
            row["close"],
        )
        assert (bar.volume, bar.vwap, bar.transactions) == (
            row["volume"],
            row["vwap"],
            row["transactions"],
        )
        assert bar.timestamp == ms_at(HALF_DAY, 16)  # 16:00 even on a half day
        assert bar.otc is None


def test_grouped_daily_includes_otc_names_only_when_asked(sandbox):
    day = D("2024-12-02")
    default = client(sandbox).get_grouped_daily_aggs(day.isoformat(), adjusted=False)
    with_otc = client(sandbox).get_grouped_daily_aggs(
        day.isoformat(), adjusted=False, include_otc=True
    )
    otc_listed = set(sandbox.market.listings().query("market == 'otc'")["ticker"])
    flagged = {b.ticker for b in with_otc if b.otc}
    assert flagged and flagged <= otc_listed
    assert {b.ticker for b in with_otc} - {b.ticker for b in default} == flagged
    assert not {b.ticker for b in default} & otc_listed


@pytest.mark.parametrize("day", ["2024-12-25", "2025-01-09", "2024-11-30", "2024-11-28"])
def test_grouped_daily_on_a_non_session_is_200_without_results(sandbox, day):
    assert client(sandbox).get_grouped_daily_aggs(day) == []
    status, body, _ = get(sandbox, f"/v2/aggs/grouped/locale/us/market/stocks/{day}")
    assert status == 200
    assert body["status"] == "OK" and body["resultsCount"] == 0 and body["request_id"]
    assert "results" not in body


def test_adjusted_bars_differ_from_raw_exactly_by_the_split_factor(sandbox):
    market = sandbox.market
    today = sandbox.now.astimezone(NEW_YORK).date()
    splits = market.splits().drop_duplicates(subset=["ticker", "execution_date"])
    splits = splits[splits["execution_date"] <= today]
    assert len(splits) >= 2, "the market should have splits inside the range"
    rest = client(sandbox)
    for split in splits.itertuples():
        session = previous_session(split.execution_date)
        factor = market.split_factor(split.ticker, session, today)
        assert factor != 1.0
        raw = {b.ticker: b for b in rest.get_grouped_daily_aggs(session, adjusted=False)}
        adjusted = {b.ticker: b for b in rest.get_grouped_daily_aggs(session)}
        a, r = adjusted[split.ticker], raw[split.ticker]
        for field in ("open", "high", "low", "close", "vwap"):
            assert getattr(a, field) * factor == pytest.approx(getattr(r, field), rel=1e-12)
        assert a.volume == pytest.approx(r.volume * factor, rel=1e-12)
        unsplit = next(t for t in raw if t not in set(splits["ticker"]))
        assert adjusted[unsplit] == raw[unsplit]
        day_bars = rest.get_aggs(split.ticker, 1, "day", session, session)  # adjusted default
        assert day_bars[0].close * factor == pytest.approx(r.close, rel=1e-12)


def test_day_aggs_are_the_day_bars_stamped_at_midnight_new_york(sandbox):
    ticker = "BRK.A"
    bars = list(
        client(sandbox).list_aggs(ticker, 1, "day", "2024-11-01", "2025-01-31", adjusted=False)
    )
    sessions = sessions_between(D("2024-11-01"), D("2025-01-31"))
    assert len(bars) == len(sessions)
    for bar, session in zip(bars, sessions, strict=True):
        assert bar.timestamp == ms_at(session)
        row = sandbox.market.day_bars(session).set_index("ticker").loc[ticker]
        assert (bar.open, bar.close, bar.volume) == (row["open"], row["close"], row["volume"])


def test_minute_aggs_follow_next_url_and_equal_the_markets_minutes(sandbox):
    ticker = "AAPL"
    before = sandbox.counters.rest_requests["aggs"]
    bars = list(
        client(sandbox).list_aggs(
            ticker, 1, "minute", "2024-12-02", "2024-12-03", adjusted=False, limit=500
        )
    )
    calls = sandbox.counters.rest_requests["aggs"] - before
    expected = pd.concat(
        [sandbox.market.minute_bars(D(s), [ticker]) for s in ("2024-12-02", "2024-12-03")]
    )
    assert calls == math.ceil(len(expected) / 500)
    assert [b.timestamp for b in bars] == (expected["window_start"] // 1_000_000).tolist()
    assert [b.close for b in bars] == expected["close"].tolist()
    assert [b.volume for b in bars] == expected["volume"].tolist()


def test_hour_aggs_aggregate_the_minutes(sandbox):
    ticker, day = "NVDA", D("2024-12-02")
    hours = client(sandbox).get_aggs(ticker, 1, "hour", day, day, adjusted=False, limit=50000)
    minutes = sandbox.market.minute_bars(day, [ticker])
    hour_start = minutes["window_start"] // 3_600_000_000_000 * 3_600_000_000_000
    grouped = minutes.groupby(hour_start)
    assert [h.timestamp for h in hours] == (grouped.size().index // 1_000_000).tolist()
    assert [h.volume for h in hours] == pytest.approx(grouped["volume"].sum().tolist())
    assert [h.open for h in hours] == grouped["open"].first().tolist()
    assert [h.high for h in hours] == grouped["high"].max().tolist()
    assert [h.transactions for h in hours] == grouped["transactions"].sum().tolist()


@pytest.mark.parametrize("limit", [30, 500])
def test_small_limits_page_without_splitting_a_window(sandbox, limit):
    rest, ticker = client(sandbox), "AAPL"
    whole = rest.get_aggs(ticker, 1, "hour", "2024-12-03", "2024-12-04", limit=50000)
    assert list(rest.list_aggs(ticker, 1, "hour", "2024-12-03", "2024-12-04", limit=limit)) == (
        whole
    )
    desc = rest.list_aggs(ticker, 1, "hour", "2024-12-03", "2024-12-04", limit=limit, sort="desc")
    assert list(desc) == whole[::-1]


def test_aggs_accept_ms_bounds_inclusive_and_sort_desc(sandbox):
    ticker, day = "AAPL", D("2024-12-03")
    lo, hi = ms_at(day, 10), ms_at(day, 11)
    asc = client(sandbox).get_aggs(ticker, 1, "minute", lo, hi, adjusted=False)
    desc = client(sandbox).get_aggs(ticker, 1, "minute", lo, hi, adjusted=False, sort="desc")
    assert asc and all(lo <= b.timestamp <= hi for b in asc)
    assert asc[0].timestamp == lo and asc[-1].timestamp == hi  # both ends inclusive
    assert desc == asc[::-1]
    five = client(sandbox).get_aggs(ticker, 5, "minute", lo, hi, adjusted=False)
    assert all(b.timestamp % 300_000 == 0 for b in five)
    assert sum(b.volume for b in five) == pytest.approx(sum(b.volume for b in asc))


def test_unknown_ticker_gives_200_and_no_results(sandbox):
    assert client(sandbox).get_aggs("NOPE", 1, "day", "2024-12-02", "2024-12-06") == []
    status, body, _ = get(sandbox, "/v2/aggs/ticker/NOPE/range/1/day/2024-12-02/2024-12-06")
    assert status == 200 and body["resultsCount"] == 0 and "results" not in body


def test_paid_plan_hides_todays_day_bars_until_the_close(fresh_sandbox):
    sb = fresh_sandbox(now=dt.datetime(2025, 1, 30, 20, 0, tzinfo=dt.UTC))  # 15:00 NY
    assert client(sb).get_grouped_daily_aggs("2025-01-30") == []
    minutes = client(sb).get_aggs("AAPL", 1, "minute", "2025-01-30", "2025-01-30", limit=50000)
    assert minutes and max(b.timestamp for b in minutes) == ms_at(D("2025-01-30"), 14, 59)
    sb.set_now(dt.datetime(2025, 1, 30, 21, 0, tzinfo=dt.UTC))  # 16:00 NY: closed
    assert len(client(sb).get_grouped_daily_aggs("2025-01-30")) > 200

"""The sandbox REST API over real HTTP, through the unmodified official polygon.RESTClient."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import time

import pandas as pd
import polygon
import pytest
import urllib3

from finance_pipeline.calendar import NEW_YORK, previous_session, sessions_between

D = dt.date.fromisoformat
HALF_DAY = D("2024-11-29")


def client(sb) -> polygon.RESTClient:
    return polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url, retries=0)


def get(sb, path: str, key: str | None = "default", **params):
    """Raw GET without retries: (status, JSON body, headers)."""
    headers = {}
    if key == "default":
        key = sb.api_key
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    http = urllib3.PoolManager(retries=False)
    response = http.request("GET", sb.rest_url + path, fields=params or None, headers=headers)
    return response.status, json.loads(response.data), response.headers


def ms_at(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    moment = dt.datetime.combine(day, dt.time(hour, minute), NEW_YORK)
    return int(moment.timestamp() * 1000)


def exchange_listed(sb) -> set[str]:
    listings = sb.market.listings()
    return set(listings.loc[listings["market"] != "otc", "ticker"])


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


def test_list_tickers_pages_through_a_big_universe(fresh_sandbox):
    sb = fresh_sandbox(tickers=2500, start=D("2025-01-27"), end=D("2025-01-31"))
    before = sb.counters.rest_requests["tickers"]
    tickers = list(client(sb).list_tickers(market="stocks", limit=1000))
    calls = sb.counters.rest_requests["tickers"] - before
    expected = sb.market.tickers_as_of(sb.now.astimezone(NEW_YORK).date(), True)
    expected = expected[expected["market"] == "stocks"]["ticker"].tolist()
    assert len(expected) > 2000
    assert calls == math.ceil(len(expected) / 1000)
    assert [t.ticker for t in tickers] == sorted(expected)
    assert all(isinstance(t, polygon.rest.models.Ticker) and t.active for t in tickers)
    above = list(client(sb).list_tickers(ticker_gte="M", limit=1000))
    assert above and all(t.ticker >= "M" for t in above)


def test_list_tickers_is_point_in_time(sandbox):
    rest = client(sandbox)
    for day in (D("2024-11-01"), D("2025-01-31")):
        for active in (True, False):
            got = [t.ticker for t in rest.list_tickers(date=day, active=active, limit=1000)]
            expected = sandbox.market.tickers_as_of(day, active)["ticker"]
            assert got == sorted(expected)
    gone = list(rest.list_tickers(date="2025-01-31", active=False, limit=1000))
    assert gone and all(t.delisted_utc and not t.active for t in gone)
    exact = list(rest.list_tickers(ticker="BRK.A"))
    assert [t.ticker for t in exact] == ["BRK.A"]


def test_splits_and_dividends_v3_and_v1(sandbox):
    rest = client(sandbox)
    splits = list(rest.list_splits(limit=1000))
    market_splits = sandbox.market.splits()
    assert len(splits) == len(market_splits)  # the vendor's duplicated row is kept in v3
    assert {(s.ticker, s.execution_date) for s in splits} == {
        (t, d.isoformat())
        for t, d in zip(market_splits.ticker, market_splits.execution_date, strict=True)
    }
    reverse = list(rest.list_splits(reverse_split=True, limit=1000))
    assert reverse and all(s.split_from > s.split_to for s in reverse)
    one = list(rest.list_splits(execution_date_gte="2024-12-01", limit=1))
    assert all(s.execution_date >= "2024-12-01" for s in one)

    dividends = list(rest.list_dividends(limit=1000))
    assert len(dividends) == len(sandbox.market.dividends())
    some = list(rest.list_dividends(ex_dividend_date_lte="2024-12-31", limit=1000))
    assert some and all(d.ex_dividend_date <= "2024-12-31" for d in some)

    status, body, _ = get(sandbox, "/stocks/v1/splits", limit="5000")
    assert status == 200
    rows = body["results"]
    assert len(rows) == len(market_splits.drop_duplicates(subset=["ticker", "execution_date"]))
    for row in rows:
        forward = row["split_to"] > row["split_from"]
        assert row["adjustment_type"] == ("forward_split" if forward else "reverse_split")
        assert row["historical_adjustment_factor"] > 0
    status, body, _ = get(sandbox, "/stocks/v1/dividends", limit="5000")
    assert status == 200 and body["results"]
    for row in body["results"]:
        assert row["distribution_type"] in ("recurring", "special")
        assert 0 < row["historical_adjustment_factor"] <= 1
        assert row["split_adjusted_cash_amount"] > 0


def test_cursor_pagination_for_reference_data(sandbox):
    status, page, _ = get(sandbox, "/v3/reference/dividends", limit="2")
    assert status == 200 and len(page["results"]) == 2 and "next_url" in page
    assert "apiKey" not in page["next_url"] and sandbox.api_key not in page["next_url"]
    path = page["next_url"].removeprefix(sandbox.rest_url)
    status, second, _ = get(sandbox, path)
    assert status == 200 and second["results"] and second["results"] != page["results"]
    status, body, _ = get(sandbox, "/v3/reference/tickers", cursor="not-a-cursor")
    assert status == 400 and body["status"] == "ERROR" and "cursor" in body["error"]


def test_market_status_and_upcoming_holidays_follow_the_clock(fresh_sandbox):
    sb = fresh_sandbox(now=dt.datetime(2024, 11, 20, 17, tzinfo=dt.UTC))  # Wed 12:00 NY
    rest = client(sb)
    status = rest.get_market_status()
    assert (status.market, status.early_hours, status.after_hours) == ("open", False, False)
    assert status.exchanges.nyse == "open"
    holidays = rest.get_market_holidays()
    by_date = {(h.date, h.exchange): h for h in holidays}
    assert by_date[("2024-11-28", "NYSE")].status == "closed"
    early = by_date[("2024-11-29", "NASDAQ")]
    assert early.status == "early-close" and early.close == "2024-11-29T18:00:00.000Z"
    assert ("2025-01-09", "NYSE") in by_date and ("2024-12-25", "NYSE") in by_date
    assert all(h.date >= "2024-11-20" for h in holidays)
    sb.set_now(dt.datetime(2024, 11, 20, 13, tzinfo=dt.UTC))  # 08:00 NY
    status = rest.get_market_status()
    assert (status.market, status.early_hours) == ("extended-hours", True)
    sb.set_now(dt.datetime(2024, 11, 28, 17, tzinfo=dt.UTC))  # Thanksgiving
    assert rest.get_market_status().market == "closed"
    assert "2024-11-28" in {h.date for h in rest.get_market_holidays()}  # today still listed
    sb.advance(dt.timedelta(days=1))
    assert "2024-11-28" not in {h.date for h in rest.get_market_holidays()}


def test_snapshot_is_today_so_far(fresh_sandbox):
    now = dt.datetime(2025, 1, 30, 20, 0, tzinfo=dt.UTC)  # 15:00 New York
    sb = fresh_sandbox(now=now)
    snaps = {s.ticker: s for s in client(sb).get_snapshot_all("stocks")}
    assert snaps and not any(
        t in snaps for t in sb.market.listings().query("market == 'otc'").ticker
    )
    aapl = snaps["AAPL"]
    minutes = sb.market.minute_bars(D("2025-01-30"), ["AAPL"])
    done = minutes[minutes["window_start"] + 60_000_000_000 <= int(now.timestamp() * 1e9)]
    assert aapl.day.volume == pytest.approx(done["volume"].sum())
    assert aapl.min.timestamp == done["window_start"].iloc[-1] // 1_000_000
    previous = sb.market.day_bars(D("2025-01-29")).set_index("ticker").loc["AAPL"]
    assert aapl.prev_day.close == previous["close"]
    assert aapl.todays_change == pytest.approx(aapl.day.close - previous["close"])
    some = client(sb).get_snapshot_all("stocks", tickers=["AAPL", "NVDA"])
    assert sorted(s.ticker for s in some) == ["AAPL", "NVDA"]


def test_auth_errors_and_unknown_paths_match_the_reference(sandbox):
    path = "/v2/aggs/grouped/locale/us/market/stocks/2024-12-02"
    status, body, _ = get(sandbox, path, key=None)
    assert status == 401
    assert body.keys() == {"status", "request_id", "error"}
    assert (body["status"], body["error"]) == ("ERROR", "API Key was not provided")
    status, body, _ = get(sandbox, path, key="sbx_wrong")
    assert status == 401 and body["error"] == "Unknown API Key" and body["request_id"]
    status, body, _ = get(sandbox, path, key=None, apiKey=sandbox.api_key)
    assert status == 200 and body["resultsCount"] > 0
    status, body, _ = get(sandbox, "/v9/nothing/here")
    assert status == 404 and body["status"] == "NOT_FOUND"
    with pytest.raises(polygon.exceptions.BadResponse, match="Unknown API Key"):
        polygon.RESTClient(api_key="nope", base=sandbox.rest_url).get_grouped_daily_aggs(
            "2024-12-02"
        )


def test_bad_parameters_are_400(sandbox):
    status, body, _ = get(sandbox, "/v2/aggs/grouped/locale/us/market/stocks/2024-13-45")
    assert status == 400 and body["status"] == "ERROR" and "YYYY-MM-DD" in body["error"]
    status, body, _ = get(sandbox, "/v2/aggs/ticker/AAPL/range/1/week/2024-12-02/2024-12-06")
    assert status == 400 and "timespan" in body["error"]
    status, body, _ = get(sandbox, "/v3/reference/tickers", limit="1001")
    assert status == 400 and "limit" in body["error"]


def test_rate_limit_sliding_window_and_429_body(fresh_sandbox):
    window = 3.0  # wide enough for 4 quick requests on a loaded machine
    sb = fresh_sandbox(rate_limit_per_minute=3, rate_limit_window_seconds=window)
    assert sb.env()["POLYGON_RATE_LIMIT_PER_MINUTE"] == "60"
    path = "/v1/marketstatus/now"
    statuses = [get(sb, path)[0] for _ in range(3)]
    status, body, headers = get(sb, path)
    assert statuses == [200, 200, 200]
    assert status == 429
    assert body.keys() == {"status", "request_id", "error"}
    assert body["status"] == "ERROR"
    assert body["error"].startswith("You've exceeded the maximum requests per minute")
    assert "Retry-After" not in headers  # real Polygon documents none
    deadline = time.monotonic() + 10
    while get(sb, path)[0] != 200:
        assert time.monotonic() < deadline, "the window never freed a slot"
        time.sleep(0.05)
    admitted = sorted(r.monotonic for r in sb.counters.request_log if r.status == 200)
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + window) <= 3


def test_free_plan_refuses_today_future_and_snapshot(fresh_sandbox):
    now = dt.datetime(2025, 1, 30, 20, 0, tzinfo=dt.UTC)  # Thursday 15:00 New York
    sb = fresh_sandbox(plan="free", now=now, rate_limit_per_minute=100)
    assert sb.env()["POLYGON_PLAN"] == "free"
    status, body, _ = get(sb, "/v2/aggs/grouped/locale/us/market/stocks/2025-01-30")
    assert status == 403 and body["status"] == "NOT_AUTHORIZED"
    assert body["message"] == "Attempted to request today's data before end of day"
    status, body, _ = get(sb, "/v2/aggs/grouped/locale/us/market/stocks/2025-01-31")
    assert status == 403 and "timeframe" in body["message"]
    assert len(client(sb).get_grouped_daily_aggs("2025-01-29")) > 200
    status, body, _ = get(sb, "/v2/snapshot/locale/us/markets/stocks/tickers")
    assert status == 403 and "not entitled" in body["message"]
    bars = client(sb).get_aggs("AAPL", 1, "day", "2025-01-27", "2025-01-30")
    assert [b.timestamp for b in bars] == [
        ms_at(D(d)) for d in ("2025-01-27", "2025-01-28", "2025-01-29")
    ]


def test_free_plan_default_rate_limit_is_five(fresh_sandbox):
    sb = fresh_sandbox(plan="free", rate_limit_window_seconds=30.0)
    assert sb.env()["POLYGON_RATE_LIMIT_PER_MINUTE"] == "10"
    statuses = [get(sb, "/v1/marketstatus/now")[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_paid_plan_hides_todays_day_bars_until_the_close(fresh_sandbox):
    sb = fresh_sandbox(now=dt.datetime(2025, 1, 30, 20, 0, tzinfo=dt.UTC))  # 15:00 NY
    assert client(sb).get_grouped_daily_aggs("2025-01-30") == []
    minutes = client(sb).get_aggs("AAPL", 1, "minute", "2025-01-30", "2025-01-30", limit=50000)
    assert minutes and max(b.timestamp for b in minutes) == ms_at(D("2025-01-30"), 14, 59)
    sb.set_now(dt.datetime(2025, 1, 30, 21, 0, tzinfo=dt.UTC))  # 16:00 NY: closed
    assert len(client(sb).get_grouped_daily_aggs("2025-01-30")) > 200


def test_counters_count_requests_by_endpoint_and_status(sandbox):
    before = sandbox.counters
    client(sandbox).get_grouped_daily_aggs("2024-12-02")
    client(sandbox).get_grouped_daily_aggs("2024-12-03")
    get(sandbox, "/v1/marketstatus/now", key=None)
    after = sandbox.counters
    assert after.rest_requests - before.rest_requests == {"grouped_daily": 2, "market_status": 1}
    assert after.rest_statuses - before.rest_statuses == {200: 2, 401: 1}
    new = after.request_log[len(before.request_log) :]
    assert [r.endpoint for r in new] == ["grouped_daily", "grouped_daily", "market_status"]
    assert all(a.monotonic <= b.monotonic for a, b in itertools.pairwise(new))

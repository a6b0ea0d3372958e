"""Reference tickers and the cursor pages of reference listings."""

from __future__ import annotations

import math

import polygon

from finance_pipeline.calendar import NEW_YORK
from finance_pipeline_tests.sandbox.rest.support import (
    D,
    client,
    get,
)


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


def test_cursor_pagination_for_reference_data(sandbox):
    status, page, _ = get(sandbox, "/v3/reference/dividends", limit="2")
    assert status == 200 and len(page["results"]) == 2 and "next_url" in page
    assert "apiKey" not in page["next_url"] and sandbox.api_key not in page["next_url"]
    path = page["next_url"].removeprefix(sandbox.rest_url)
    status, second, _ = get(sandbox, path)
    assert status == 200 and second["results"] and second["results"] != page["results"]
    status, body, _ = get(sandbox, "/v3/reference/tickers", cursor="not-a-cursor")
    assert status == 400 and body["status"] == "ERROR" and "cursor" in body["error"]

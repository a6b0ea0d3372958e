"""Auth, parameter errors, plans, the rate limit and request counting of the REST server."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import polygon
import pytest

from finance_pipeline_tests.sandbox.rest.support import (
    D,
    client,
    get,
    ms_at,
)


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

"""PolygonClient against FakePolygon (a small real HTTP server on 127.0.0.1 speaking Polygon's
shapes): frames, paging, retries, errors and call accounting checked against what arrived.
The full sandbox market is exercised in test_polygon_sandbox.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from finance_pipeline.clients.polygon_rest import (
    AGGS_COLUMNS,
    DIVIDENDS_COLUMNS,
    GROUPED_DAILY_COLUMNS,
    SPLITS_COLUMNS,
    TICKERS_COLUMNS,
    PolygonAuthError,
    PolygonBadRequestError,
    PolygonClient,
    PolygonNotEntitledError,
    PolygonRateLimitedError,
    PolygonUnavailableError,
)
from finance_pipeline_tests.clients.fake_polygon import GOOD_KEY, HANG, FakePolygon, json_answer


@pytest.fixture
def fake():
    with FakePolygon() as server:
        yield server


def make_client(server: FakePolygon, tmp_path, **overrides) -> PolygonClient:
    options = {
        "base_url": server.url,
        "rate_limit_per_minute": 0,
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 5.0,
        "max_retries": 3,
        "backoff_seconds": 0.01,
        "limiter_dir": str(tmp_path / "limiter"),
    }
    options.update(overrides)
    api_key = options.pop("api_key", GOOD_KEY)
    return PolygonClient(api_key, **options)


def assert_columns(frame, columns: dict[str, str]) -> None:
    assert list(frame.columns) == list(columns)
    assert {c: str(t) for c, t in frame.dtypes.items()} == columns


def test_grouped_daily_is_unadjusted_typed_and_counted(fake, tmp_path):
    client = make_client(fake, tmp_path)
    frame = client.grouped_daily(dt.date(2024, 1, 5))
    assert_columns(frame, GROUPED_DAILY_COLUMNS)
    assert frame["ticker"].tolist() == fake.ticker_names
    assert frame["otc"].tolist()[:2] == [True, False]
    assert frame["transactions"].isna().tolist()[:2] == [False, True]
    (request,) = fake.log
    assert request["query"]["adjusted"] == "false"
    assert request["query"]["include_otc"] == "false"
    assert client.calls == {"grouped_daily": 1}


def test_grouped_daily_without_results_keeps_columns(fake, tmp_path):
    client = make_client(fake, tmp_path)
    frame = client.grouped_daily(dt.date(2024, 1, 6))
    assert frame.empty
    assert_columns(frame, GROUPED_DAILY_COLUMNS)


def test_lists_follow_every_page_through_the_configured_base(fake, tmp_path):
    client = make_client(fake, tmp_path)
    tickers = client.tickers(dt.date(2024, 1, 5), active=True)
    assert tickers["ticker"].tolist() == fake.ticker_names
    assert_columns(tickers, TICKERS_COLUMNS)
    pages = fake.requests_to("tickers")
    assert len(pages) == 3 == client.calls["tickers"]
    first = pages[0]["query"]
    assert (first["limit"], first["market"], first["date"], first["active"]) == (
        "1000",
        "stocks",
        "2024-01-05",
        "true",
    )

    bars = client.aggs("BRK.A", 1, "day", dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert_columns(bars, AGGS_COLUMNS)
    assert bars["timestamp"].tolist() == [1, 2]
    first = fake.requests_to("aggs")[0]
    assert first["path"] == "/v2/aggs/ticker/BRK.A/range/1/day/2024-01-02/2024-01-05"
    assert (first["query"]["adjusted"], first["query"]["limit"]) == ("false", "50000")
    assert client.calls["aggs"] == 2


def test_reference_endpoints_and_market_status(fake, tmp_path):
    client = make_client(fake, tmp_path)
    splits = client.splits(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert_columns(splits, SPLITS_COLUMNS)
    assert splits.iloc[0][["ticker", "split_from", "split_to"]].tolist() == ["T000", 1.0, 4.0]
    query = fake.requests_to("v3_splits")[0]["query"]
    assert (query["execution_date.gte"], query["execution_date.lte"], query["limit"]) == (
        "2024-01-01",
        "2024-01-31",
        "1000",
    )
    dividends = client.dividends(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert_columns(dividends, DIVIDENDS_COLUMNS)
    assert fake.requests_to("v3_dividends")[0]["query"]["ex_dividend_date.gte"] == "2024-01-01"
    status = client.market_status()
    assert status["market"] == "closed"
    assert status["exchanges"]["nyse"] == "closed"
    assert client.calls == {"v3_splits": 1, "v3_dividends": 1, "market_status": 1}
    assert client.total_calls == len(fake.log)


def test_a_5xx_burst_is_retried_and_every_attempt_counted(fake, tmp_path):
    fake.script.extend(
        [json_answer(503, {"status": "ERROR"}), json_answer(502, {"status": "ERROR"})]
    )
    client = make_client(fake, tmp_path)
    frame = client.grouped_daily(dt.date(2024, 1, 5))
    assert len(frame) == len(fake.ticker_names)
    assert [r["status"] for r in fake.log] == [503, 502, 200]
    assert client.calls["grouped_daily"] == 3
    assert client.retries["grouped_daily"] == 2
    assert client.metrics()["api_retries"] == 2


def test_429_honours_retry_after(fake, tmp_path):
    fake.script.append((429, {"Retry-After": "1"}, b'{"status":"ERROR","error":"slow down"}'))
    client = make_client(fake, tmp_path)
    client.market_status()
    first, second = fake.log
    assert first["status"] == 429 and second["status"] == 200
    assert second["t"] - first["t"] >= 0.9  # the client's own backoff is 0.01 s
    assert client.rate_limited["market_status"] == 1


def test_429_storm_past_the_budget_is_a_rate_limit_error(fake, tmp_path):
    fake.script.extend([json_answer(429, {"status": "ERROR", "error": "exceeded"})] * 10)
    client = make_client(fake, tmp_path, max_retries=2)
    with pytest.raises(PolygonRateLimitedError, match="after 2 retries"):
        client.market_status()
    assert client.calls["market_status"] == 3 == len(fake.log)
    assert client.rate_limited["market_status"] == 3


def test_a_hung_response_is_cut_by_the_read_timeout(fake, tmp_path):
    fake.script.extend([HANG, HANG])
    client = make_client(fake, tmp_path, read_timeout_seconds=0.3, max_retries=1)
    with pytest.raises(PolygonUnavailableError, match="timed out"):
        client.grouped_daily(dt.date(2024, 1, 5))
    assert client.calls["grouped_daily"] == 2


def test_a_200_with_broken_json_is_retried_not_silently_empty(fake, tmp_path):
    fake.script.extend([(200, {}, b'{"status":"OK","results":[{"T":')] * 2)
    client = make_client(fake, tmp_path, max_retries=1)
    with pytest.raises(PolygonUnavailableError, match="not valid JSON"):
        client.grouped_daily(dt.date(2024, 1, 5))


def test_bad_key_is_an_auth_error_without_the_key(fake, tmp_path):
    bad_key = "not-the-key-1234567"
    client = make_client(fake, tmp_path, api_key=bad_key)
    with pytest.raises(PolygonAuthError) as caught:
        client.grouped_daily(dt.date(2024, 1, 5))
    assert "Unknown API Key" in str(caught.value)
    assert bad_key not in str(caught.value) and bad_key not in repr(client)
    assert client.calls["grouped_daily"] == 1  # not retried


def test_missing_key_is_refused_before_any_request(fake, tmp_path):
    with pytest.raises(PolygonAuthError, match="POLYGON_API_KEY"):
        make_client(fake, tmp_path, api_key="  ")
    assert fake.log == []


def test_not_entitled_today_explains_the_plan(fake, tmp_path):
    body = {
        "status": "NOT_AUTHORIZED",
        "message": "Attempted to request today's data before end of day",
    }
    fake.script.append(json_answer(403, body))
    client = make_client(fake, tmp_path)
    with pytest.raises(PolygonNotEntitledError) as caught:
        client.grouped_daily(dt.date(2024, 1, 5))
    message = str(caught.value)
    assert "before end of day" in message and "free plans" in message
    assert client.calls["grouped_daily"] == 1


def test_bad_parameter_is_a_bad_request(fake, tmp_path):
    fake.script.append(json_answer(400, {"status": "ERROR", "error": "Could not parse the date"}))
    client = make_client(fake, tmp_path)
    with pytest.raises(PolygonBadRequestError, match="Could not parse the date"):
        client.aggs("AAPL", 1, "day", dt.date(2024, 1, 2), dt.date(2024, 1, 5))


def test_an_echoed_key_is_redacted_from_messages(fake, tmp_path):
    fake.script.append(json_answer(400, {"status": "ERROR", "error": f"bad apiKey {GOOD_KEY}"}))
    client = make_client(fake, tmp_path)
    with pytest.raises(PolygonBadRequestError) as caught:
        client.market_status()
    assert GOOD_KEY not in str(caught.value) and "***" in str(caught.value)


def test_connection_refused_is_unavailable(tmp_path):
    with FakePolygon() as server:
        url = server.url
    client = PolygonClient(
        GOOD_KEY, base_url=url, rate_limit_per_minute=0, max_retries=1, backoff_seconds=0.01
    )
    with pytest.raises(PolygonUnavailableError, match="connection failed"):
        client.market_status()
    assert client.calls["market_status"] == 2

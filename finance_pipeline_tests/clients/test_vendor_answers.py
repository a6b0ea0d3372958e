"""The real service's answers through PolygonClient over HTTP: answers that are HTTP 200 and
not data (`results: null`, non-JSON, an empty whole-market answer on a session) retried under
the one retry policy, then one clear PolygonError; opaque cursors followed."""

from __future__ import annotations

import datetime as dt

import pytest

from finance_pipeline.clients.polygon_rest import (
    PolygonClient,
    PolygonError,
    PolygonInvalidAnswerError,
)
from finance_pipeline.sandbox import Sandbox

NOW = dt.datetime(2025, 2, 4, 18, 0, tzinfo=dt.UTC)
SESSION = dt.date(2025, 2, 3)
SATURDAY = dt.date(2025, 2, 1)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(tickers=60, seed=5, now=NOW) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb, tmp_path):
    sb.faults.clear()
    sb.reset_counters()
    return PolygonClient(
        sb.api_key,
        base_url=sb.rest_url,
        rate_limit_per_minute=0,
        max_retries=2,
        backoff_seconds=0.01,
        limiter_dir=str(tmp_path),
    )


@pytest.mark.parametrize("kind", ["results_null", "not_json", "empty"])
def test_grouped_daily_invalid_answer_is_retried_then_data(sb, client, kind):
    sb.faults.invalid_answers(kind, count=2, endpoint="grouped_daily")
    frame = client.grouped_daily(SESSION)
    assert len(frame) > 30
    assert client.retries["grouped_daily"] == 2
    assert sb.counters.rest_requests["grouped_daily"] == 3


@pytest.mark.parametrize("kind", ["results_null", "not_json", "empty"])
def test_grouped_daily_invalid_answers_end_in_one_clear_error(sb, client, kind):
    sb.faults.invalid_answers(kind, count=3, endpoint="grouped_daily")
    with pytest.raises(PolygonInvalidAnswerError) as caught:
        client.grouped_daily(SESSION)
    message = str(caught.value)
    assert "grouped_daily" in message and "after 2 retries" in message
    assert sb.api_key not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_aggs_results_null_is_retried(sb, client):
    sb.faults.invalid_answers("results_null", count=1, endpoint="aggs")
    frame = client.aggs("AAPL", 1, "day", SESSION - dt.timedelta(days=7), SESSION)
    assert len(frame) == 6  # 2025-01-27..2025-02-03: six sessions
    assert client.retries["aggs"] == 1


def test_aggs_results_null_for_good_is_a_polygon_error(sb, client):
    sb.faults.invalid_answers("results_null", count=5, endpoint="aggs")
    with pytest.raises(PolygonError, match=r"results: null"):
        client.aggs("AAPL", 1, "minute", SESSION, SESSION)


def test_empty_grouped_daily_on_a_weekend_is_no_data_not_an_error(sb, client):
    assert client.grouped_daily(SATURDAY).empty
    assert client.retries["grouped_daily"] == 0


def test_rest_sample_reconciliation_reports_results_null_instead_of_raising(sb, client):
    from finance_pipeline.checks.rest_sample import grouped_vs_rest_sample

    grouped = client.grouped_daily(SESSION)
    sb.faults.invalid_answers("results_null", count=50, endpoint="aggs")
    verdict = grouped_vs_rest_sample(grouped, client, SESSION, sample_size=3)
    assert not verdict.passed
    assert "could not fetch the old path" in verdict.description
    assert "results: null" in verdict.description


def test_v1_listings_follow_opaque_cursors_under_the_one_retry_policy(sb, client):
    start, end = dt.date(2024, 12, 3), dt.date(2025, 2, 3)
    whole = client.stocks_dividends(start, end)
    client.page_limit = 3
    sb.faults.server_errors(1, status=503, endpoint="v1_dividends")  # a page is retried
    paged = client.stocks_dividends(start, end)
    assert len(whole) > 6 and paged.equals(whole)
    pages = -(-len(whole) // 3)
    assert client.calls["v1_dividends"] == 1 + pages + 1  # the first frame, the pages, a retry
    assert client.retries["v1_dividends"] == 1
    cursors = [r.path for r in sb.counters.request_log if r.endpoint == "v1_dividends"]
    assert len(cursors) == client.calls["v1_dividends"]


def test_aggs_next_url_carries_an_opaque_cursor_the_client_follows(sb, client):
    import json
    import urllib.request

    url = (
        f"{sb.rest_url}/v2/aggs/ticker/AAPL/range/1/minute/{SESSION}/{SESSION}"
        "?adjusted=false&limit=100"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {sb.api_key}"})
    with urllib.request.urlopen(request) as answer:
        body = json.loads(answer.read())
    next_url = body["next_url"]
    path, _, query = next_url.partition("?")
    assert query.startswith("cursor=") and "adjusted" not in query and "limit" not in query
    assert path.rsplit("/", 2)[-2].isdigit()  # the new bound in the path (Unix ms)
    from polygon import RESTClient

    official = RESTClient(api_key=sb.api_key, base=sb.rest_url, retries=0)
    minutes = list(
        official.list_aggs("AAPL", 1, "minute", SESSION, SESSION, adjusted=False, limit=100)
    )
    expected = sb.market.minute_bars(SESSION, ["AAPL"])
    assert len(minutes) == len(expected) > 100
    assert [m.timestamp for m in minutes] == (expected["window_start"] // 1_000_000).tolist()

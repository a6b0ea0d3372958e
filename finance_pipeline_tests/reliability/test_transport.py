"""5xx bursts, 429 storms and hung responses: runs recover within the retry budget or fail
saying why; the machine-wide limiter adds no 429 of its own; our timeouts fire where the
official client's do not. Counts come from the sandbox's request log, not from the client."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import pytest
from polygon import RESTClient

from finance_pipeline.assets import grouped_daily_bars, rest_fills
from finance_pipeline.clients import (
    PolygonClient,
    PolygonRateLimitedError,
    PolygonUnavailableError,
)
from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.conftest import SANDBOX_DEFAULTS
from finance_pipeline_tests.reliability.conftest import register_sandbox
from finance_pipeline_tests.reliability.figures import REGISTRY
from finance_pipeline_tests.reliability.support import (
    damage,
    failure_text,
    materialize,
    materialized,
    part_file,
    poll,
    resources,
    snapshot,
)

LIMIT, WINDOW = 3, 2.0  # the rate-limited sandbox: 3 requests per sliding 2 s window
STORM = 4


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("transport-lake")
    REGISTRY.add_path(root)
    return root


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    cache = tmp_path_factory.mktemp("limited-market-cache")
    params = {**SANDBOX_DEFAULTS, "tickers": 30}
    with Sandbox(
        **params, rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW, cache_dir=cache
    ) as sandbox:
        register_sandbox(sandbox)
        yield sandbox


@pytest.fixture
def limited_sb(limited, monkeypatch):
    for name, value in limited.env().items():
        monkeypatch.setenv(name, value)
    limited.reset_counters()
    yield limited
    limited.faults.clear()


def settled(sb: Sandbox, total: int):
    """The sandbox counters once `total` requests are logged (it logs just after answering)."""

    def ready():
        counters = sb.counters
        return counters if len(counters.request_log) >= total else None

    return poll(ready, 30, f"{total} requests in the sandbox log")


def meta(result, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


# ----------------------------------------------------------------------------- 5xx and hangs


def test_a_5xx_burst_and_a_hung_response_are_absorbed_by_retries(
    sb, rel_instance, lake_root, limiter_dir, figure
):
    session = dt.date(2025, 1, 14)
    figure.category, figure.scenario = "transport", "503 x2 then a hung response, 3 retries"
    sb.reset_counters()
    sb.faults.server_errors(2, status=503, endpoint="grouped_daily")
    sb.faults.hang(1, endpoint="grouped_daily", max_seconds=60)
    figure.faults_injected += 3
    res = resources(sb, lake_root, limiter_dir=limiter_dir, max_retries=3, read_timeout_seconds=1.0)
    result = materialize([grouped_daily_bars], res, rel_instance, session=session)
    figure.runs += 1
    figure.runs_recovered += int(result.success)

    assert result.success, failure_text(result)
    counters = settled(sb, 4)
    # 503, 503, dropped by our read timeout (status 0: no answer was ever sent), 200. (The
    # sandbox logs the dropped request when it notices, possibly after the next one.)
    assert Counter(r.status for r in counters.request_log) == {503: 2, 0: 1, 200: 1}
    assert meta(result, "grouped_daily_bars")["api_retries"] == 3
    assert part_file(lake_root, "grouped_daily_bars", session).is_file()


def test_a_5xx_burst_beyond_the_budget_fails_clearly_and_the_rerun_recovers(
    sb, rel_instance, lake_root, limiter_dir, figure
):
    session = dt.date(2025, 1, 15)
    figure.category, figure.scenario = "transport", "503 x3 with 2 retries, then a rerun"
    sb.reset_counters()
    before = snapshot(lake_root)
    sb.faults.server_errors(3, status=502, endpoint="grouped_daily")
    figure.faults_injected += 3
    res = resources(sb, lake_root, limiter_dir=limiter_dir, max_retries=2)
    failed = materialize([grouped_daily_bars], res, rel_instance, session=session)
    figure.runs += 1
    text = failure_text(failed)
    clear = "unavailable after 2 retries" in text and "HTTP 502" in text
    figure.runs_failed_clearly += int(not failed.success and clear)
    found = damage(lake_root, before, snapshot(lake_root))

    rerun = materialize([grouped_daily_bars], res, rel_instance, session=session)
    figure.runs_recovered += int(rerun.success)
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)

    assert not failed.success and clear, text
    assert (found.lost, found.corrupted) == ([], [])
    assert not any(name.startswith("grouped_daily_bars/session=2025-01-15") for name in found.lost)
    assert rerun.success, failure_text(rerun)
    assert Counter(r.status for r in settled(sb, 4).request_log) == {502: 3, 200: 1}


def test_our_read_timeout_fires_within_its_bound(sb, limiter_dir, figure):
    figure.category, figure.scenario = "transport", "hung responses, read timeout 1 s"
    retries, timeout, backoff = 2, 1.0, 0.1
    sb.reset_counters()
    sb.faults.hang(retries + 1, endpoint="grouped_daily", max_seconds=60)
    figure.faults_injected += retries + 1
    client = PolygonClient(
        sb.api_key,
        base_url=sb.rest_url,
        rate_limit_per_minute=0,
        read_timeout_seconds=timeout,
        max_retries=retries,
        backoff_seconds=backoff,
        limiter_dir=str(limiter_dir),
    )
    started = time.monotonic()
    with pytest.raises(PolygonUnavailableError) as raised:
        client.grouped_daily(dt.date(2025, 1, 16))
    elapsed = time.monotonic() - started
    figure.runs += 1
    message = str(raised.value)
    figure.runs_failed_clearly += int("read timed out after 1.0s" in message)

    assert "read timed out after 1.0s" in message and "after 2 retries" in message
    # A bound, not a speed target: every attempt ends at its timeout, plus backoff and slack.
    backoffs = sum(backoff * 2**i for i in range(retries))
    assert elapsed <= (retries + 1) * timeout + backoffs + 10.0
    # The client hung up each time: the sandbox never got to answer (status 0).
    statuses = [r.status for r in settled(sb, retries + 1).request_log]
    assert statuses == [0] * (retries + 1)
    figure.note(f"3 hung attempts ended after {elapsed:.1f} s (bound {3 + backoffs + 10:.1f} s)")


def test_the_official_client_ignores_its_read_timeout(sb, figure):
    """Why PolygonClient applies timeouts itself: polygon-api-client 1.16.3 stores its
    read_timeout but never passes it to urllib3, so a hung response is only ended by the server."""
    figure.category, figure.scenario = "transport", "hung response, official client (contrast)"
    bound = 3.0
    sb.reset_counters()
    sb.faults.hang(1, endpoint="grouped_daily", max_seconds=bound)
    figure.faults_injected += 1
    official = RESTClient(api_key=sb.api_key, base=sb.rest_url, read_timeout=1.0, retries=0)
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - the server's 504 after its hang bound
        official.get_grouped_daily_aggs("2025-01-16", adjusted=False)
    elapsed = time.monotonic() - started
    figure.runs += 1
    figure.note(f"official client with read_timeout=1.0 waited {elapsed:.1f} s for the server")

    # The sandbox had to end the hang itself (504 at its bound): the client never timed out.
    assert [r.status for r in settled(sb, 1).request_log] == [504]
    assert elapsed >= bound - 0.1


# ----------------------------------------------------------------------------- 429 storms


def test_a_429_storm_beyond_the_budget_fails_clearly(
    limited_sb, rel_instance, lake_root, limiter_dir, figure
):
    sb = limited_sb
    session = dt.date(2025, 1, 21)
    figure.category, figure.scenario = "transport", "429 storm x3 with 2 retries"
    before = snapshot(lake_root)
    sb.faults.rate_limit_storm(3, endpoint="grouped_daily")
    figure.faults_injected += 3
    res = resources(
        sb,
        lake_root,
        limiter_dir=limiter_dir,
        max_retries=2,
        rate_limit=LIMIT,
        window_seconds=WINDOW,
    )
    result = materialize([grouped_daily_bars], res, rel_instance, session=session)
    figure.runs += 1
    text = failure_text(result)
    clear = "rate-limited" in text and "after 2 retries" in text
    figure.runs_failed_clearly += int(not result.success and clear)
    found = damage(lake_root, before, snapshot(lake_root))
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)

    assert not result.success and clear, text
    assert "grouped_daily_bars" not in materialized(result)
    assert not part_file(lake_root, "grouped_daily_bars", session).exists()
    assert (found.lost, found.corrupted) == ([], [])
    assert settled(sb, 3).rest_statuses == {429: 3}


def test_a_429_storm_is_absorbed_and_the_limiter_adds_no_429(
    limited_sb, rel_instance, lake_root, limiter_dir, figure
):
    sb = limited_sb
    session = dt.date(2025, 1, 17)
    bars = sb.market.day_bars(session)
    tickers = sorted(bars.loc[~bars["otc"], "ticker"])[:6]
    figure.category = "transport"
    figure.scenario = f"429 storm x{STORM} at {LIMIT} req/{WINDOW:g} s, {len(tickers)} calls"
    sb.faults.rate_limit_storm(STORM, endpoint="aggs")
    figure.faults_injected += STORM
    res = resources(
        sb,
        lake_root,
        limiter_dir=limiter_dir,
        max_retries=STORM + 1,
        backoff_seconds=0.05,
        rate_limit=LIMIT,
        window_seconds=WINDOW,
    )
    config = {"ops": {"rest_fills": {"config": {"tickers": tickers}}}}
    result = materialize([rest_fills], res, rel_instance, session=session, run_config=config)
    figure.runs += 1
    figure.runs_recovered += int(result.success)
    counters = settled(sb, len(tickers) + STORM)
    extra = counters.rest_statuses[429] - STORM
    figure.note(f"429s at the sandbox beyond the {STORM} injected, limiter on: {extra}")

    # Without the limiter, the same calls do draw real 429s: the count above can fail.
    sb.reset_counters()
    unthrottled = PolygonClient(
        sb.api_key, base_url=sb.rest_url, rate_limit_per_minute=0, max_retries=0
    )
    refused = 0
    for ticker in tickers:
        try:
            unthrottled.aggs(ticker, 1, "minute", session, session)
        except PolygonRateLimitedError:
            refused += 1
    figure.note(f"429s drawn by the same {len(tickers)} calls with the limiter off: {refused}")

    assert result.success, failure_text(result)
    assert meta(result, "rest_fills")["api_429s"] == STORM
    assert counters.rest_statuses == {200: len(tickers), 429: STORM}
    assert extra == 0
    assert refused > 0

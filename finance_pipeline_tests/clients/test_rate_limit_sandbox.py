"""Acceptance: two OS processes calling Polygon through PolygonClient share one plan limit.

The sandbox admits at most L requests per sliding W-second window (429 past it) and logs every
arrival; both processes use the same (base URL, key), so the same limiter state: one SQLite
file, or one PostgreSQL table.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time

import pytest

from finance_pipeline.clients import PolygonClient
from finance_pipeline_tests.clients.test_rate_limit import STORES, max_in_any_window
from finance_pipeline_tests.servers import pg_dsn

LIMIT, WINDOW, CALLS = 8, 4.0, 12  # 2 x 12 calls: at least three windows


def _child(base_url: str, api_key: str, limiter_dir: str, dsn: str | None, start) -> None:
    client = PolygonClient(
        api_key,
        base_url=base_url,
        rate_limit_per_minute=LIMIT,
        rate_limit_window_seconds=WINDOW,
        max_retries=0,  # a single 429 fails the child
        limiter_dir=limiter_dir,
        limiter_postgres_dsn=dsn,
    )
    start.wait(120)  # both processes are ready: their calls overlap
    for i in range(CALLS):
        if i % 2:
            client.market_status()
        else:
            client.grouped_daily(dt.date(2025, 1, 31))
    if client.total_calls != CALLS:
        raise SystemExit(f"expected {CALLS} calls, counted {client.total_calls}")


@pytest.mark.slow
@pytest.mark.parametrize("store", STORES)
def test_two_processes_never_exceed_the_plan_limit_together(
    store, fresh_sandbox, tmp_path, request
):
    dsn = pg_dsn(request.getfixturevalue("postgres")) if store == "postgres" else None
    sb = fresh_sandbox(tickers=30, rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    children = [
        context.Process(target=_child, args=(sb.rest_url, sb.api_key, str(tmp_path), dsn, start))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=180)
    assert [child.exitcode for child in children] == [0, 0]
    deadline = time.monotonic() + 10  # the sandbox logs a request just after answering it
    while sb.counters.rest_total < 2 * CALLS and time.monotonic() < deadline:
        time.sleep(0.02)
    counters = sb.counters
    assert counters.rest_total == 2 * CALLS
    assert counters.rest_statuses == {200: 2 * CALLS}
    assert max_in_any_window([r.monotonic for r in counters.request_log], WINDOW) <= LIMIT

"""B2: rate-limit efficiency of a grouped-daily backfill under a plan limit.

K grouped-daily sessions against a sandbox that admits L requests per sliding window of W
seconds (the window is compressed so the figure takes seconds, not minutes), fetched through
the product's PolygonClient and its machine-wide limiter: once by one process, once by P
processes started together that share the limiter (each takes every P-th session).
Wall time is compared with the bound of K/L windows; 429s are counted at the sandbox.
"""

from __future__ import annotations

import datetime as dt
import math
import queue
import tempfile
import time
from typing import Any

from bench.common import (
    SCRATCH,
    Sizes,
    Target,
    figure,
    ratio,
    start_worker,
    wait_for,
    worker_context,
    worker_result,
    year_sessions,
)

READY_TIMEOUT = 120.0


def wait_for_quiet_window(sandbox: Any, window_seconds: float) -> None:
    """Until the sandbox's rate window holds none of the requests sent so far."""
    log = sandbox.counters.request_log
    if not log:
        return
    last = max(record.monotonic for record in log)
    wait_for(
        lambda: time.monotonic() > last + window_seconds + 0.5,
        timeout=window_seconds + 30,
        what="the sandbox's rate-limit window to empty",
        poll=0.1,
    )


def backfill(
    sandbox: Any,
    sessions: list[dt.date],
    processes: int,
    limit: int,
    window_seconds: float,
) -> dict[str, Any]:
    """Fetch `sessions` with `processes` workers started together; wall time and 429s."""
    wait_for_quiet_window(sandbox, window_seconds)
    sandbox.reset_counters()
    context = worker_context()
    go = context.Event()
    ready = context.Queue()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as limiter_dir:
        workers = [
            start_worker(
                fetch_grouped_daily,
                sandbox.api_key,
                sandbox.rest_url,
                sessions[index::processes],
                limit,
                window_seconds,
                limiter_dir,
                ready,
                go,
            )
            for index in range(processes)
        ]
        try:
            seen = []
            wait_for(
                lambda: (
                    _drain(ready, seen) == processes
                    or any(not process.is_alive() for process, _ in workers)
                ),
                timeout=READY_TIMEOUT,
                what=f"{processes} fetching process(es) to be ready",
            )
            started = time.time()
            go.set()
            results = [
                worker_result(process, answers, "b2 fetch", timeout=60 + len(sessions) * 10)
                for process, answers in workers
            ]
        finally:
            for process, _ in workers:
                if process.is_alive():
                    process.kill()
    counters = sandbox.counters
    return {
        "processes": processes,
        "sessions": len(sessions),
        "wall_seconds": max(r["finished"] for r in results) - started,
        "calls_counted": counters.rest_requests["grouped_daily"],
        "ok_counted": counters.rest_statuses[200],
        "status_429_counted": counters.rest_statuses[429],
        "client_429s": sum(r["client_429s"] for r in results),
        "client_retries": sum(r["client_retries"] for r in results),
        "limiter_wait_seconds": round(sum(r["limiter_wait_seconds"] for r in results), 2),
    }


def _drain(ready: Any, seen: list[Any]) -> int:
    while True:
        try:
            seen.append(ready.get_nowait())
        except queue.Empty:
            return len(seen)


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    """`sandbox` must admit `sizes.b2_limit` requests per `sizes.b2_window_seconds`."""
    sessions = year_sessions(sizes.b2_sessions)
    limit, window = sizes.b2_limit, sizes.b2_window_seconds
    bound = len(sessions) / limit * window
    tight = (math.ceil(len(sessions) / limit) - 1) * window
    figures = {}
    for key, processes in (
        ("b2_rate_limit_alone", 1),
        ("b2_rate_limit_parallel", sizes.b2_processes),
    ):
        outcome = backfill(sandbox, sessions, processes, limit, window)
        wall = outcome["wall_seconds"]
        who = "one process" if processes == 1 else f"{processes} processes started together"
        figures[key] = figure(
            f"B2 grouped-daily backfill of {len(sessions)} sessions under {limit} calls per "
            f"{window:g} s, {who}",
            value=wall,
            unit="s",
            baseline=bound,
            baseline_label=f"bound: K/L windows = {len(sessions)}/{limit} x {window:g} s",
            ratio=ratio(wall, bound),
            target=Target("<=", 1.05, text="<= 1.05x the K/L-window bound, 0 429s"),
            extra_conditions={"0 429s at the sandbox": outcome["status_429_counted"] == 0},
            how=(
                f"{who} fetch K={len(sessions)} sessions with PolygonClient.grouped_daily "
                f"(machine-wide limiter: L={limit} per W={window:g} s, a plan limit compressed "
                "in time) "
                f"against a sandbox enforcing the same sliding window. Wall from a common start "
                f"to the last response; the sandbox counted {outcome['calls_counted']} calls "
                f"and {outcome['status_429_counted']} 429s. The least possible wall is "
                f"(ceil(K/L)-1) windows = {tight:g} s plus one response."
            ),
            details={**outcome, "bound_seconds": bound, "lower_bound_seconds": tight},
        )
    return figures


# ---- the worker ----------------------------------------------------------------------------
def fetch_grouped_daily(
    api_key: str,
    base_url: str,
    sessions: list[dt.date],
    limit: int,
    window_seconds: float,
    limiter_dir: str,
    ready: Any,
    go: Any,
) -> dict[str, Any]:
    """One fetching process: build the client, say ready, wait for the start, fetch."""
    from finance_pipeline.clients import PolygonClient

    client = PolygonClient(
        api_key,
        base_url=base_url,
        rate_limit_per_minute=limit,
        rate_limit_window_seconds=window_seconds,
        limiter_dir=limiter_dir,
    )
    ready.put(True)
    if not go.wait(READY_TIMEOUT):
        raise TimeoutError("B2 worker: no start signal")
    rows = sum(len(client.grouped_daily(session)) for session in sessions)
    return {
        "finished": time.time(),
        "rows": rows,
        "calls": client.total_calls,
        "client_429s": sum(client.rate_limited.values()),
        "client_retries": sum(client.retries.values()),
        "limiter_wait_seconds": client.usage.limiter_wait_seconds,
    }

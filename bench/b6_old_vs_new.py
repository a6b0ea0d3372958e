"""B6: the old path vs the new paths end to end, under the same plan limit.

The same year of S&P-500-size daily bars, under a free plan's 5 calls per minute compressed in
time: the sandbox and the product's limiter both allow L calls per W seconds, a factor
12 * L / W faster than 5 per 60 s (L=5, W=1 s: 60x). At the real limit the calls alone take
calls / 5 minutes, which the figure states next to the measured walls.
- old path: one `aggs` call per ticker per session. 126,000 rate-limited calls would take
  hours even compressed, so a SAMPLE of calls is sent through the same limiter; under a rate
  limit the wall time grows linearly with the calls, so the sample's seconds per call times
  all the calls gives its wall time (and the request rate it reached is reported).
- new path (REST): grouped daily for every session, normalized and written to a lake
  (normalize_grouped_daily -> schemas.to_table -> Lake.write), all sessions sent.
- new path (flat files): every session's day file downloaded, converted and written; S3 is
  not rate limited, so its wall time is the same compressed or not.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from bench.b1_calls import index_tickers, spread
from bench.common import SCRATCH, Sizes, figure, ratio, year_sessions

REAL_LIMIT_PER_MINUTE = 5


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    """`sandbox` must admit `sizes.b6_limit` requests per `sizes.b6_window_seconds`."""
    from finance_pipeline import schemas
    from finance_pipeline.assets.flat_file_aggs import flat_file_table
    from finance_pipeline.assets.grouped_daily import normalize_grouped_daily
    from finance_pipeline.clients import FlatFilesClient, PolygonClient
    from finance_pipeline.lake import Lake

    sessions = year_sessions(sizes.sessions)
    limit, window = sizes.b6_limit, sizes.b6_window_seconds
    compression = 60 / REAL_LIMIT_PER_MINUTE * limit / window
    index = index_tickers(sandbox.market, sessions, sizes.index_tickers)
    old_calls_full = len(index) * len(sessions)
    SCRATCH.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
        client = PolygonClient(
            sandbox.api_key,
            base_url=sandbox.rest_url,
            rate_limit_per_minute=limit,
            rate_limit_window_seconds=window,
            limiter_dir=f"{work}/limiter",
        )
        lake = Lake(f"{work}/lake")

        # Old path sample: tickers x sessions in order until the sample size is reached.
        per_session = max(1, sizes.b6_old_sample_calls // len(sessions))
        pairs = [(t, s) for s in sessions for t in spread(index, per_session)]
        pairs = pairs[: sizes.b6_old_sample_calls]
        sandbox.reset_counters()
        began = time.perf_counter()
        for ticker, session in pairs:
            client.aggs(ticker, 1, "day", session, session)
        old_sample_seconds = time.perf_counter() - began
        old_counted = sandbox.counters
        old_per_call = old_sample_seconds / len(pairs)
        old_wall = old_per_call * old_calls_full

        # New path, REST: grouped daily for every session, into the lake.
        sandbox.reset_counters()
        began = time.perf_counter()
        for session in sessions:
            frame = normalize_grouped_daily(client.grouped_daily(session), session)
            table = schemas.to_table(frame, schemas.GROUPED_DAILY_BARS, "grouped_daily_bars")
            lake.write("grouped_daily_bars", session, table)
        grouped_wall = time.perf_counter() - began
        grouped_counted = sandbox.counters

        # New path, flat files: every day file, into the lake.
        flat = FlatFilesClient(
            sandbox.s3_client(), bucket=sandbox.bucket, secrets=[sandbox.s3_secret_access_key]
        )
        sandbox.reset_counters()
        began = time.perf_counter()
        for session in sessions:
            table = flat_file_table(flat.download("day_aggs_v1", session), "flat_file_day_aggs")
            lake.write("flat_file_day_aggs", session, table)
        flat_wall = time.perf_counter() - began
        flat_counted = sandbox.counters

    def at_plan_limit(calls: int) -> str:
        # Under the real limit every call waits its turn: calls / 5 minutes at the least.
        return _duration(calls / REAL_LIMIT_PER_MINUTE * 60)

    no_429s = (
        old_counted.rest_statuses[429] == 0
        and grouped_counted.rest_statuses[429] == 0
        and flat_counted.rest_total == 0
    )
    return {
        "b6_old_vs_new_wall": figure(
            f"B6 a year of {len(index)}-ticker daily bars under one plan limit: old path vs "
            "grouped daily (and flat files)",
            value=grouped_wall,
            unit="s (compressed)",
            baseline=old_wall,
            baseline_label="old path, one call per ticker per session (from a measured sample)",
            ratio=ratio(old_wall, grouped_wall),
            target=None,
            extra_conditions={"0 429s, 0 API calls for flat files": no_429s},
            how=(
                f"Limit {limit} calls per {window:g} s at the sandbox and in the product's "
                f"limiter = 5/min compressed {compression:g}x. Old path: {len(pairs)} of its "
                f"{old_calls_full:,} calls sent and counted "
                f"({old_counted.rest_requests['aggs']}), {old_per_call:.3f} s/call -> "
                f"{old_wall:,.0f} s for all of them. Grouped daily into the lake: "
                f"{grouped_counted.rest_requests['grouped_daily']} calls, {grouped_wall:.1f} s. "
                f"Flat files into the lake: {flat_counted.rest_total} calls, "
                f"{flat_counted.s3_gets} GETs, {flat_wall:.1f} s (S3 is not rate limited). "
                f"Ratio: old / grouped daily wall (old / flat files: "
                f"{old_wall / flat_wall:,.0f}x). At the real 5/min the calls alone take "
                f"{at_plan_limit(old_calls_full)} (old) vs {at_plan_limit(len(sessions))} "
                "(grouped daily) vs no wait (flat files)."
            ),
            details={
                "limit": limit,
                "window_seconds": window,
                "compression_factor": compression,
                "index_tickers": len(index),
                "sessions": len(sessions),
                "old_path_calls_full": old_calls_full,
                "old_path_sample_calls": len(pairs),
                "old_path_sample_calls_counted": old_counted.rest_requests["aggs"],
                "old_path_sample_seconds": round(old_sample_seconds, 2),
                "old_path_seconds_per_call": round(old_per_call, 4),
                "old_path_wall_seconds_compressed": round(old_wall, 1),
                "old_path_at_real_limit": at_plan_limit(old_calls_full),
                "grouped_daily_calls_counted": grouped_counted.rest_requests["grouped_daily"],
                "grouped_daily_wall_seconds": round(grouped_wall, 2),
                "grouped_daily_at_real_limit": at_plan_limit(len(sessions)),
                "flat_files_wall_seconds": round(flat_wall, 2),
                "flat_files_gets_counted": flat_counted.s3_gets,
                "old_vs_flat_files_ratio": round(old_wall / flat_wall, 1),
                "status_429_counted": old_counted.rest_statuses[429]
                + grouped_counted.rest_statuses[429],
            },
        )
    }


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"

"""B1: API calls for a year of S&P-500-size daily bars, COUNTED AT THE SANDBOX.

Paths, all through the product's own clients against one unlimited paid-plan sandbox:
- old per-ticker path: one `aggs` call per ticker per session. The sandbox serves a per-ticker
  request in tens of milliseconds (pandas per session), so 126,000 of them would take longer
  than the whole suite may: a SAMPLE of tickers is sent for every session, the sandbox's count
  proves one call per (ticker, session), and the full figure is tickers x sessions.
- best per-ticker variant: one `aggs` call per ticker for the whole year (all sent at full
  size, a sample in --smoke).
- grouped daily: one call per session, every session sent.
- flat files: every session's day file downloaded: 0 API calls, one S3 GET per session.
- universe discovery: `list_tickers` pages (active and delisted) vs one ticker-details call
  per ticker; the sandbox has no details endpoint, so that side is N = tickers found.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.common import Sizes, Target, figure, ratio, year_sessions


def index_tickers(market: Any, sessions: list[dt.date], count: int) -> list[str]:
    """`count` common stocks listed for the whole range (a stand-in for the S&P 500)."""
    listings = market.listings()
    whole_range = [
        row.type == "CS"
        and row.market == "stocks"
        and row.list_date <= sessions[0]
        and (row.delisted_date is None or row.delisted_date > sessions[-1])
        for row in listings.itertuples()
    ]
    tickers = sorted(listings.loc[whole_range, "ticker"])
    if len(tickers) < count:
        raise ValueError(
            f"the sandbox market has {len(tickers)} common stocks listed all year, "
            f"fewer than the {count} the benchmark needs; raise its ticker count"
        )
    return tickers[:count]


def spread(items: list[str], count: int) -> list[str]:
    """`count` items spread evenly over `items` (deterministic)."""
    step = max(1, len(items) // count)
    return items[::step][:count]


def _counted(sandbox: Any, action: Any) -> tuple[Any, float, Any]:
    """(result, seconds, sandbox counters) of `action` run from zeroed counters."""
    sandbox.reset_counters()
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began, sandbox.counters


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    from finance_pipeline.clients import FlatFilesClient, PolygonClient

    sessions = year_sessions(sizes.sessions)
    client = PolygonClient(sandbox.api_key, base_url=sandbox.rest_url, rate_limit_per_minute=0)
    index = index_tickers(sandbox.market, sessions, sizes.index_tickers)
    old_calls_full = len(index) * len(sessions)

    # Old path, per ticker per session (sampled tickers, every session).
    session_sample = spread(index, sizes.old_session_sample_tickers)
    per_session_bars: dict[tuple[str, dt.date], float] = {}

    def old_per_session() -> None:
        for ticker in session_sample:
            for session in sessions:
                bars = client.aggs(ticker, 1, "day", session, session)
                for close in bars.close:
                    per_session_bars[(ticker, session)] = float(close)

    _, old_seconds, counted = _counted(sandbox, old_per_session)
    old_sent = counted.rest_requests["aggs"]
    if old_sent != len(session_sample) * len(sessions):
        raise RuntimeError(
            f"old path: the sandbox counted {old_sent} aggs calls for "
            f"{len(session_sample)} tickers x {len(sessions)} sessions"
        )
    old_per_call = old_seconds / old_sent

    # Best per-ticker variant: one call per ticker for the whole range.
    yearly_sample = spread(index, sizes.old_yearly_sample_tickers)
    _, yearly_seconds, counted = _counted(
        sandbox,
        lambda: [client.aggs(t, 1, "day", sessions[0], sessions[-1]) for t in yearly_sample],
    )
    yearly_sent = counted.rest_requests["aggs"]
    if yearly_sent != len(yearly_sample):
        raise RuntimeError(f"yearly path: {yearly_sent} calls for {len(yearly_sample)} tickers")

    # Grouped daily: every session.
    grouped_bars: dict[tuple[str, dt.date], float] = {}

    def grouped() -> int:
        rows = 0
        wanted = set(session_sample)
        for session in sessions:
            frame = client.grouped_daily(session)
            rows += len(frame)
            for ticker, close in zip(frame.ticker, frame.close, strict=True):
                if ticker in wanted:
                    grouped_bars[(ticker, session)] = float(close)
        return rows

    grouped_rows, grouped_seconds, counted = _counted(sandbox, grouped)
    grouped_calls = counted.rest_total
    agree = per_session_bars == grouped_bars

    # Flat files: every session's day file.
    flat = FlatFilesClient(
        sandbox.s3_client(), bucket=sandbox.bucket, secrets=[sandbox.s3_secret_access_key]
    )

    def flat_files() -> tuple[int, int]:
        rows = size = 0
        for session in sessions:
            downloaded = flat.download("day_aggs_v1", session)
            rows += downloaded.table.num_rows
            size += downloaded.info.size
        return rows, size

    (flat_rows, flat_bytes), flat_seconds, counted = _counted(sandbox, flat_files)
    flat_calls, flat_gets = counted.rest_total, counted.s3_gets

    # Universe discovery on the first session.
    def universe() -> int:
        active = client.tickers(sessions[0], active=True)
        inactive = client.tickers(sessions[0], active=False)
        return len(set(active.ticker) | set(inactive.ticker))

    universe_size, _, counted = _counted(sandbox, universe)
    universe_pages = counted.rest_requests["tickers"]
    details_probe = _details_endpoint_status(sandbox, index[0])

    year = f"{len(index)} tickers x {len(sessions)} sessions"
    yearly_scope = (
        f"all {len(index)} tickers"
        if len(yearly_sample) == len(index)
        else f"a SAMPLE of {len(yearly_sample)} of the {len(index)} tickers (full figure "
        f"{len(index)})"
    )
    sample_note = (
        f"old path SAMPLED: {len(session_sample)} tickers x {len(sessions)} sessions = "
        f"{old_sent} calls sent and counted at the sandbox (exactly 1 per ticker per session); "
        f"full figure {len(index)} x {len(sessions)} = {old_calls_full:,}; sending all would take "
        f"~{old_calls_full * old_per_call / 60:.0f} min at the measured {old_per_call * 1e3:.1f} "
        "ms/call"
    )
    return {
        "b1_grouped_daily_calls": figure(
            f"B1 API calls, {year} of daily bars: grouped daily vs per ticker per session",
            value=grouped_calls,
            unit="calls",
            baseline=old_calls_full,
            baseline_label="old path: one aggs call per ticker per session",
            ratio=ratio(old_calls_full, grouped_calls),
            target=Target(">=", 500, text=">= 500x fewer calls than one per ticker per session"),
            how=(
                f"PolygonClient.grouped_daily for each of {len(sessions)} sessions, counted at "
                f"the sandbox ({grouped_rows:,} rows, {grouped_seconds:.1f} s). {sample_note}. "
                f"Same numbers on both paths for the sample: {agree}."
            ),
            extra_conditions={"sampled tickers' closes identical on both paths": agree},
            details={
                "sessions": len(sessions),
                "index_tickers": len(index),
                "market_tickers": sizes.market_tickers,
                "grouped_daily_calls_counted": grouped_calls,
                "grouped_daily_rows": grouped_rows,
                "grouped_daily_seconds": round(grouped_seconds, 2),
                "old_path_calls_full": old_calls_full,
                "old_path_sample_tickers": session_sample,
                "old_path_calls_sent_and_counted": old_sent,
                "old_path_sample_seconds": round(old_seconds, 2),
                "old_path_seconds_per_call": round(old_per_call, 5),
                "old_path_projected_send_minutes": round(old_calls_full * old_per_call / 60, 1),
                "sampled_closes_compared": len(grouped_bars),
                "paths_agree": agree,
            },
        ),
        "b1_flat_file_calls": figure(
            f"B1 API calls, {year}: flat files",
            value=flat_calls,
            unit="calls",
            baseline=old_calls_full,
            baseline_label="old path: one aggs call per ticker per session",
            ratio=None,
            target=Target("==", 0, on="value", text="0 API calls"),
            how=(
                f"FlatFilesClient.download of each session's day_aggs_v1 file; the sandbox "
                f"counted {flat_calls} REST calls and {flat_gets} S3 GETs ({flat_rows:,} rows, "
                f"{flat_bytes / 1e6:.1f} MB gz, {flat_seconds:.1f} s)."
            ),
            details={
                "s3_gets_counted": flat_gets,
                "rows": flat_rows,
                "bytes": flat_bytes,
                "seconds": round(flat_seconds, 2),
            },
        ),
        "b1_per_ticker_yearly_calls": figure(
            f"B1 API calls, {year}: best per-ticker variant (one call per ticker per year)",
            value=yearly_sent if len(yearly_sample) == len(index) else len(index),
            unit="calls",
            baseline=grouped_calls,
            baseline_label="grouped daily calls",
            ratio=ratio(len(index), grouped_calls),
            target=None,
            how=(
                f"PolygonClient.aggs over the whole range, sent for {yearly_scope}: the sandbox "
                f"counted {yearly_sent} calls (1 per ticker) in {yearly_seconds:.0f} s "
                f"({yearly_seconds / len(yearly_sample):.2f} s per call). Ratio: this variant's "
                "calls / grouped daily's (informational, no target)."
            ),
            details={
                "tickers_sent": len(yearly_sample),
                "calls_sent_and_counted": yearly_sent,
                "seconds_per_call": round(yearly_seconds / len(yearly_sample), 3),
            },
        ),
        "b1_universe_discovery_calls": figure(
            "B1 universe discovery: list_tickers pages vs one ticker-details call per ticker",
            value=universe_pages,
            unit="calls",
            baseline=universe_size,
            baseline_label="one ticker-details call per ticker (N)",
            ratio=ratio(universe_size, universe_pages),
            target=None,
            how=(
                f"PolygonClient.tickers(active=True and False, limit=1000) on {sessions[0]}: "
                f"{universe_pages} pages counted at the sandbox for {universe_size:,} tickers. "
                f"The sandbox has no ticker-details endpoint (it answered HTTP {details_probe}), "
                "so that side is counted as N = tickers found."
            ),
            details={"tickers_found": universe_size, "details_endpoint_status": details_probe},
        ),
    }


def _details_endpoint_status(sandbox: Any, ticker: str) -> int:
    """HTTP status of /v3/reference/tickers/{ticker} on the sandbox (404: not served)."""
    import urllib3

    response = urllib3.PoolManager().request(
        "GET",
        f"{sandbox.rest_url}/v3/reference/tickers/{ticker}",
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
        retries=False,
        timeout=10,
    )
    return int(response.status)

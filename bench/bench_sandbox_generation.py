"""Benchmark: how fast the sandbox market generates and re-reads data.

    python bench/bench_sandbox_generation.py [--tickers 10000] [--daily-sessions 252]

Times one whole-market minute session generated cold (no cache), the same session generated
into a fresh on-disk cache and re-read by a new Market, and the day bars of many sessions
(the cheap path used to build large daily lakes). Prints the figures and writes them to
bench/results/sandbox_generation.json. Not a test: no assertions, the numbers depend on the
machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finance_pipeline.sandbox.market import MODEL_VERSION, Market

RESULTS = Path(__file__).resolve().parent / "results" / "sandbox_generation.json"


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def run(tickers: int, session: dt.date, daily_sessions: int, seed: int) -> dict[str, Any]:
    start, end = session - dt.timedelta(days=14), session + dt.timedelta(days=14)
    cold = Market(seed=seed, tickers=tickers, start=start, end=end)
    day, day_seconds = timed(lambda: cold.day_bars(session))
    minutes, cold_seconds = timed(lambda: cold.minute_bars(session))

    with tempfile.TemporaryDirectory() as cache:
        writer = Market(seed=seed, tickers=tickers, start=start, end=end, cache_dir=Path(cache))
        _, write_seconds = timed(lambda: writer.minute_bars(session))
        cache_bytes = writer.minute_cache_path(session).stat().st_size
        reader = Market(seed=seed, tickers=tickers, start=start, end=end, cache_dir=Path(cache))
        cached, read_seconds = timed(lambda: reader.minute_bars(session))
    if len(cached) != len(minutes):
        raise RuntimeError(f"cached re-read returned {len(cached)} rows, expected {len(minutes)}")

    daily_end = session + dt.timedelta(days=int(daily_sessions * 365 / 252) + 7)
    daily = Market(seed=seed, tickers=tickers, start=session, end=daily_end)
    sessions = daily.sessions[:daily_sessions]
    daily_rows, daily_seconds = timed(lambda: sum(len(daily.day_bars(s)) for s in sessions))

    return {
        "benchmark": "sandbox_generation",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "parameters": {
            "tickers": tickers,
            "session": session.isoformat(),
            "seed": seed,
            "model_version": MODEL_VERSION,
        },
        "figures": {
            "day_bars_rows": len(day),
            "day_bars_first_session_seconds": round(day_seconds, 4),
            "minute_rows": len(minutes),
            "minute_cold_seconds": round(cold_seconds, 4),
            "minute_cold_rows_per_second": round(len(minutes) / cold_seconds),
            "minute_generate_and_cache_seconds": round(write_seconds, 4),
            "minute_cache_bytes": cache_bytes,
            "minute_cached_read_seconds": round(read_seconds, 4),
            "daily_sessions": len(sessions),
            "daily_rows": daily_rows,
            "daily_seconds": round(daily_seconds, 4),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=10_000)
    parser.add_argument("--session", type=dt.date.fromisoformat, default=dt.date(2024, 6, 14))
    parser.add_argument(
        "--daily-sessions", type=int, default=252, help="day-bar sessions to time (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    report = run(args.tickers, args.session, args.daily_sessions, args.seed)
    figures = report["figures"]
    print(f"tickers={args.tickers} session={args.session}")
    print(
        f"minute session cold:   {figures['minute_rows']:>10,} rows "
        f"{figures['minute_cold_seconds']:8.3f} s"
    )
    print(
        f"minute generate+cache: {figures['minute_rows']:>10,} rows "
        f"{figures['minute_generate_and_cache_seconds']:8.3f} s "
        f"({figures['minute_cache_bytes'] / 1e6:.1f} MB parquet)"
    )
    print(
        f"minute cached re-read: {figures['minute_rows']:>10,} rows "
        f"{figures['minute_cached_read_seconds']:8.3f} s"
    )
    print(
        f"day bars x{figures['daily_sessions']} sessions: {figures['daily_rows']:>10,} rows "
        f"{figures['daily_seconds']:8.3f} s"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

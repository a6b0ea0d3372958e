"""B8: research reads on minute data, before and after compaction.

A synthetic minute lake under bench/.scratch/minute-reads-<tickers>x<sessions>/: `minute_bars`
for the first `sessions` sessions of the benchmark year, every ticker trading on a share of
the 960 extended-hours minutes drawn once per ticker (a few liquid names nearly every minute,
most far fewer: ~200 minutes a ticker-session on average), written through `Lake.write` (the
product's files and manifest entries). Three queries, each rep on a random ticker, session or
month, in one warm connection from `Warehouse.connect`:
- one ticker's year: `SELECT * FROM minute_bars WHERE ticker = ?`;
- one session's cross-section: `SELECT * FROM minute_bars WHERE session = ?`;
- a 5-minute resample of one ticker's month: `SELECT * FROM minute_bars_5m WHERE ticker = ?
  AND session BETWEEN ? AND ?`;
first over the per-session files (the baseline), then after `Warehouse.compact("minute_bars")`
(the lake stays authoritative: the compacted files are a cache the views verify per session).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SCRATCH, Sizes, Target, figure, in_worker, ratio, year_sessions

MINUTES = 960  # 04:00-20:00 New York
TICKER_YEAR_TARGET = 0.02
RESAMPLE_TARGET = 0.05


def _tickers(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(count)]


def build(root: Path, tickers: int, sessions: list[dt.date], seed: int = 5) -> dict[str, Any]:
    """Write the synthetic minute lake through the product's Lake; its sizes."""
    import pyarrow as pa

    from finance_pipeline import schemas
    from finance_pipeline.calendar import NEW_YORK
    from finance_pipeline.lake import Lake
    from finance_pipeline.registry import FLAT_FILE_MINUTE_AGGS, MINUTE_BARS

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    names = np.array(_tickers(tickers), dtype=object)
    share = np.clip(np.exp(rng.normal(-2.2, 1.0, tickers)), 0.002, 0.98)  # mean ~0.2
    price = np.exp(rng.normal(3.5, 1.0, tickers))
    lake, rows = Lake(str(root)), 0
    for session in sessions:
        four = dt.datetime.combine(session, dt.time(4), NEW_YORK).timestamp()
        trades = rng.random((tickers, MINUTES)) < share[:, None]
        who, minute = np.nonzero(trades)  # ticker-major, minutes ascending: as the vendor sorts
        n = len(who)
        close = price[who] * np.exp(rng.normal(0, 0.002, n))
        open_ = close * np.exp(rng.normal(0, 0.001, n))
        spread = 1 + rng.uniform(0, 0.002, n)
        high, low = np.maximum(open_, close) * spread, np.minimum(open_, close) / spread
        starts = ((four + minute * 60) * 1e9).astype("int64")
        table = pa.table(
            {
                "ticker": names[who],
                "session": pa.array(np.full(n, np.datetime64(session, "D")), pa.date32()),
                "window_start": pa.array(starts, pa.int64()).cast(schemas.TIMESTAMP),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": rng.integers(100, 50_000, n).astype(np.float64),
                "vwap": (high + low + close) / 3,
                "transactions": rng.integers(1, 500, n),
                "source": np.full(n, FLAT_FILE_MINUTE_AGGS, dtype=object),
            },
            schema=schemas.CURATED_BARS,
        )
        lake.write(MINUTE_BARS, session, table)
        price *= np.exp(rng.normal(0, 0.02, tickers))
        rows += n
    return {
        "tickers": tickers,
        "sessions": len(sessions),
        "minute_bars_rows": rows,
        "rows_per_session": rows // len(sessions),
        "build_seconds": round(time.perf_counter() - started, 1),
    }


def lake_for(tickers: int, sessions: list[dt.date]) -> tuple[Path, dict[str, Any]]:
    root = SCRATCH / f"minute-reads-{tickers}x{len(sessions)}"
    marker = root / ".complete.json"
    if marker.exists():
        return root, json.loads(marker.read_text()) | {"reused": True}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    info = build(root, tickers, sessions)
    marker.write_text(json.dumps(info))
    return root, info | {"reused": False}


def _measure(con: Any, queries: list[tuple[str, list[Any]]]) -> dict[str, float]:
    con.execute(*queries[0]).to_arrow_table()  # warm-up: metadata caches
    walls, cpus, rows = [], [], []
    for sql, params in queries:
        wall, cpu = time.perf_counter(), time.process_time()
        table = con.execute(sql, params).to_arrow_table()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        rows.append(table.num_rows)
    walls.sort()
    return {
        "p50_ms": round(statistics.median(walls), 2),
        "p95_ms": round(walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))], 2),
        "cpu_p50_ms": round(statistics.median(cpus), 2),
        "reps": len(queries),
        "rows_p50": statistics.median(rows),
    }


def _phase(warehouse: Any, reps: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    con = warehouse.connect()
    tickers = [t for (t,) in con.execute("SELECT DISTINCT ticker FROM minute_bars").fetchall()]
    days = sorted(d for (d,) in con.execute("SELECT DISTINCT session FROM minute_bars").fetchall())
    months = sorted({(d.year, d.month) for d in days})
    pick_t = [tickers[i] for i in rng.integers(len(tickers), size=reps)]
    pick_s = [days[i] for i in rng.integers(len(days), size=reps)]
    pick_m = [months[i] for i in rng.integers(len(months), size=reps)]

    def month(year: int, number: int) -> list[dt.date]:
        inside = [d for d in days if (d.year, d.month) == (year, number)]
        return [inside[0], inside[-1]]

    found = {
        "ticker_year": _measure(
            con, [("SELECT * FROM minute_bars WHERE ticker = ?", [t]) for t in pick_t]
        ),
        "cross_section": _measure(
            con, [("SELECT * FROM minute_bars WHERE session = ?", [s]) for s in pick_s]
        ),
        "resample_month": _measure(
            con,
            [
                (
                    "SELECT * FROM minute_bars_5m WHERE ticker = ? AND session BETWEEN ? AND ?",
                    [t, *month(*m)],
                )
                for t, m in zip(pick_t, pick_m, strict=True)
            ],
        ),
        "fingerprint": [
            int(v)
            for v in con.execute(
                "SELECT count(*), sum(hash(ticker, window_start, close, volume)) FROM minute_bars"
            ).fetchall()[0]
        ],
    }
    con.close()
    return found


def measure(tickers: int, sessions: int, reps: int) -> dict[str, Any]:
    """In a worker: build or reuse the lake, measure before and after compaction."""
    from finance_pipeline.registry import MINUTE_BARS
    from finance_pipeline.warehouse import COMPACT_DIR, Warehouse

    root, lake = lake_for(tickers, year_sessions(sessions))
    shutil.rmtree(root / COMPACT_DIR, ignore_errors=True)
    (root / "warehouse.duckdb").unlink(missing_ok=True)
    with Warehouse(str(root), datasets=[MINUTE_BARS]) as warehouse:
        baseline = _phase(warehouse, reps, seed=1)
        began = time.perf_counter()
        result = warehouse.compact(MINUTE_BARS)
        compaction = {"periods": len(result.periods), "rows": result.rows}
        compaction["seconds"] = round(time.perf_counter() - began, 1)
        compacted = _phase(warehouse, reps, seed=2)
    return {"lake": lake, "baseline": baseline, "compacted": compacted, "compaction": compaction}


def run(sizes: Sizes) -> dict[str, dict[str, Any]]:
    found = in_worker(
        measure, sizes.b8_tickers, sizes.b8_sessions, sizes.b8_reps, what="b8 minute reads"
    )
    lake, before, after = found["lake"], found["baseline"], found["compacted"]
    same = before["fingerprint"] == after["fingerprint"]
    where = (
        f"{lake['tickers']:,} tickers x {lake['sessions']} sessions of minute_bars "
        f"({lake['minute_bars_rows']:,} rows, ~{lake['rows_per_session']:,} a session) in "
        "per-session Parquet files written by Lake.write, then Warehouse.compact "
        f"({found['compaction']['seconds']:.0f} s); p50/p95 over {sizes.b8_reps} queries on "
        "random tickers/sessions/months in one warm connection; ratio = compacted p50 / p50 "
        "over the per-session files in the same run"
    )

    def one(key: str, title: str, target: Target | None) -> dict[str, Any]:
        now, then = after[key], before[key]
        return figure(
            title,
            value=now["p50_ms"],
            unit="ms",
            baseline=then["p50_ms"],
            baseline_label="p50 over the per-session files (before compaction)",
            ratio=ratio(now["p50_ms"], then["p50_ms"]),
            target=target,
            extra_conditions={"same rows before and after compaction": same},
            how=(
                f"{where}. p95 {now['p95_ms']:.1f} ms (per-session files {then['p95_ms']:.1f} "
                f"ms), CPU p50 {now['cpu_p50_ms']:.1f} ms, {now['rows_p50']:,.0f} rows."
            ),
            details={"compacted": now, "per_session_files": then, **found["compaction"]},
        )

    return {
        "b8_minute_ticker_year": one(
            "ticker_year",
            "B8 one ticker's year of minute bars (minute_bars)",
            Target("<=", TICKER_YEAR_TARGET, text=f"<= {TICKER_YEAR_TARGET}x per-session files"),
        ),
        "b8_minute_cross_section": one(
            "cross_section", "B8 one session's cross-section of minute bars (minute_bars)", None
        ),
        "b8_minute_resample_month": one(
            "resample_month",
            "B8 5-minute resample of one ticker's month (minute_bars_5m)",
            Target("<=", RESAMPLE_TARGET, text=f"<= {RESAMPLE_TARGET}x per-session files"),
        ),
    }

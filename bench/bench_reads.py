"""Read latency of the DuckDB warehouse, before and after compaction (not a test).

    python -m bench.bench_reads [--tickers 10000] [--years 10] [--reps 50]

Builds (or reuses) a synthetic daily lake under bench/.scratch/reads-<tickers>x<years>/:
daily_bars for every NYSE session of the last `years` calendar years (every ticker every
session), plus splits (forward and reverse, applied to the raw prices) and quarterly dividends,
written with numpy + pyarrow straight into the lake layout and schemas. Then measures p50/p95
wall time (and CPU time) over `reps` repetitions, each on a different random ticker or session, of

- one ticker's full history: `SELECT * FROM daily_bars[_adjusted] WHERE ticker = ...`
- one session's cross-section: `SELECT * FROM daily_bars[_adjusted] WHERE session = ...`

first over the per-session files (the baseline), then after `Warehouse.compact`. Writes
bench/results/reads.json: machine, sizes, figures, targets (issue: history <= 50 ms p50,
cross-section <= 20 ms p50, adjusted view included) and whether they are met.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from finance_pipeline import schemas
from finance_pipeline.calendar import sessions_between
from finance_pipeline.warehouse import COMPACT_DIR, Warehouse

BENCH_DIR = Path(__file__).resolve().parent
SCRATCH = BENCH_DIR / ".scratch"
RESULTS = BENCH_DIR / "results" / "reads.json"
TARGETS_MS = {"ticker_history": 50.0, "cross_section": 20.0}
LAST_YEAR = 2025
SEED = 11
NEW_YORK = ZoneInfo("America/New_York")
SPLIT_RATIOS = [(1.0, 2.0), (1.0, 3.0), (2.0, 3.0), (10.0, 1.0), (1.0, 4.0)]  # (from, to)


# --------------------------------------------------------------------------- the synthetic lake


def _tickers(count: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choice(letters, rng.integers(1, 6))))
    return np.array(sorted(found), dtype=object)


def _write(root: Path, dataset: str, session: dt.date, columns: dict[str, Any]) -> None:
    table = pa.table(columns, schema=schemas.DATASETS[dataset])
    directory = root / dataset / f"session={session.isoformat()}"
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "part-0.parquet", compression="zstd")


def build_lake(root: Path, tickers: int, years: int, seed: int = SEED) -> dict[str, Any]:
    """Write the synthetic lake; returns its sizes. Raw (unadjusted) prices: a split divides
    every later price by split_to/split_from, as the market would."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    sessions = sessions_between(dt.date(LAST_YEAR - years + 1, 1, 1), dt.date(LAST_YEAR, 12, 31))
    names = _tickers(tickers, rng)
    price = np.exp(rng.normal(3.5, 1.0, tickers))
    # ~3% of tickers split once a year on a random session; a quarter pay quarterly dividends.
    splits_at: dict[int, list[tuple[int, float, float]]] = {}
    for _ in range(int(tickers * 0.03) * years):
        ratio = SPLIT_RATIOS[rng.integers(len(SPLIT_RATIOS))]
        splits_at.setdefault(int(rng.integers(1, len(sessions))), []).append(
            (int(rng.integers(tickers)), *ratio)
        )
    payers = rng.choice(tickers, tickers // 4, replace=False)
    phase = rng.integers(1, 63, len(payers))
    rows = 0
    for index, session in enumerate(sessions):
        for ticker, split_from, split_to in splits_at.get(index, []):
            price[ticker] *= split_from / split_to
        price *= np.exp(rng.normal(0.0002, 0.02, tickers))
        open_ = price * np.exp(rng.normal(0, 0.005, tickers))
        high = np.maximum(open_, price) * (1 + rng.uniform(0, 0.01, tickers))
        low = np.minimum(open_, price) * (1 - rng.uniform(0, 0.01, tickers))
        midnight = dt.datetime.combine(session, dt.time(), NEW_YORK).astimezone(dt.UTC)
        day = pa.array(np.full(tickers, np.datetime64(session, "D")), pa.date32())
        _write(
            root,
            "daily_bars",
            session,
            {
                "ticker": names,
                "session": day,
                "window_start": pa.array(
                    np.full(tickers, np.datetime64(midnight.replace(tzinfo=None), "ns")),
                    schemas.TIMESTAMP,
                ),
                "open": open_,
                "high": high,
                "low": low,
                "close": price,
                "volume": rng.integers(100, 5_000_000, tickers).astype(np.float64),
                "vwap": (high + low + price) / 3,
                "transactions": rng.integers(1, 50_000, tickers),
                "source": np.full(tickers, "flat_file_day_aggs", dtype=object),
            },
        )
        rows += tickers
        events = splits_at.get(index, [])
        if events:
            _write(
                root,
                "splits",
                session,
                {
                    "session": pa.array([session] * len(events), pa.date32()),
                    "ticker": [names[t] for t, _, _ in events],
                    "execution_date": pa.array([session] * len(events), pa.date32()),
                    "split_from": [f for _, f, _ in events],
                    "split_to": [t for _, _, t in events],
                    "id": [f"S{index}-{t}" for t, _, _ in events],
                    "adjustment_type": [None] * len(events),
                    "historical_adjustment_factor": pa.array([None] * len(events), pa.float64()),
                },
            )
        paying = payers[(index % 63) == phase]
        if len(paying):
            count = len(paying)
            _write(
                root,
                "dividends",
                session,
                {
                    "session": pa.array([session] * count, pa.date32()),
                    "ticker": names[paying],
                    "ex_dividend_date": pa.array([session] * count, pa.date32()),
                    "cash_amount": np.round(price[paying] * 0.004, 4),
                    "currency": ["USD"] * count,
                    "declaration_date": pa.array([None] * count, pa.date32()),
                    "record_date": pa.array([None] * count, pa.date32()),
                    "pay_date": pa.array([None] * count, pa.date32()),
                    "frequency": [4] * count,
                    "dividend_type": ["CD"] * count,
                    "id": [f"D{index}-{p}" for p in paying],
                    "distribution_type": ["recurring"] * count,
                    "split_adjusted_cash_amount": pa.array([None] * count, pa.float64()),
                    "historical_adjustment_factor": pa.array([None] * count, pa.float64()),
                },
            )
    return {
        "tickers": tickers,
        "years": years,
        "sessions": len(sessions),
        "daily_bars_rows": rows,
        "split_events": sum(len(v) for v in splits_at.values()),
        "build_seconds": round(time.perf_counter() - started, 1),
    }


def lake_for(tickers: int, years: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The scratch lake of this size, built unless a complete one is there."""
    root = SCRATCH / f"reads-{tickers}x{years}"
    marker = root / ".complete.json"
    # A lake written with other schemas (e.g. before a column was added) is rebuilt.
    schemas_seen = {name: str(schema) for name, schema in schemas.DATASETS.items()}
    if marker.exists() and not rebuild:
        info = json.loads(marker.read_text())
        if info.get("schemas") == schemas_seen:
            return root, {k: v for k, v in info.items() if k != "schemas"} | {"reused": True}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    info = build_lake(root, tickers, years)
    marker.write_text(json.dumps(info | {"schemas": schemas_seen}))
    return root, info | {"reused": False}


# --------------------------------------------------------------------------- measuring


def _measure(con: Any, queries: list[str]) -> dict[str, float]:
    con.sql(queries[0]).to_arrow_table()  # warm-up: metadata caches, first page reads
    walls, cpus, rows = [], [], []
    for sql in queries:
        wall, cpu = time.perf_counter(), time.process_time()
        table = con.sql(sql).to_arrow_table()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        rows.append(table.num_rows)
    walls.sort()
    return {
        "p50_ms": round(statistics.median(walls), 2),
        "p95_ms": round(walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))], 2),
        "min_ms": round(walls[0], 2),
        "cpu_p50_ms": round(statistics.median(cpus), 2),
        "reps": len(queries),
        "rows_p50": statistics.median(rows),
    }


def _fingerprint(con: Any) -> list[Any]:
    """Row count and an order-free hash of the whole adjusted view: equal in both phases."""
    row = con.sql(
        "SELECT count(*), sum(hash(ticker, session, open, close, volume, source, split_factor, "
        "dividend_factor, adj_close, total_return_close)) FROM daily_bars_adjusted"
    ).fetchall()[0]
    return [int(v) for v in row]


def measure_phase(warehouse: Warehouse, reps: int, rng: np.random.Generator) -> dict[str, Any]:
    started = time.perf_counter()
    con = warehouse.connect()
    connect_s = time.perf_counter() - started
    tickers = [
        t for (t,) in con.sql("SELECT DISTINCT ticker FROM daily_bars ORDER BY 1").fetchall()
    ]
    days = [d for (d,) in con.sql("SELECT DISTINCT session FROM daily_bars ORDER BY 1").fetchall()]
    picks_t = [tickers[i] for i in rng.integers(len(tickers), size=reps)]
    picks_s = [days[i] for i in rng.integers(len(days), size=reps)]
    figures: dict[str, Any] = {"connect_seconds": round(connect_s, 3)}
    for view in ("daily_bars", "daily_bars_adjusted"):
        figures[f"ticker_history:{view}"] = _measure(
            con, [f"SELECT * FROM {view} WHERE ticker = '{t}'" for t in picks_t]
        )
        figures[f"cross_section:{view}"] = _measure(
            con, [f"SELECT * FROM {view} WHERE session = DATE '{s}'" for s in picks_s]
        )
    figures["fingerprint"] = _fingerprint(con)
    con.close()
    return figures


def run(tickers: int, years: int, reps: int, rebuild: bool = False) -> dict[str, Any]:
    """Build or reuse the lake, measure before and after compaction; the results dict."""
    root, lake = lake_for(tickers, years, rebuild)
    shutil.rmtree(root / COMPACT_DIR, ignore_errors=True)  # the baseline has no compacted files
    (root / "warehouse.duckdb").unlink(missing_ok=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    with Warehouse(str(root), datasets=["daily_bars", "splits", "dividends"]) as warehouse:
        baseline = measure_phase(warehouse, max(3, min(reps, 7)), np.random.default_rng(SEED))
        compaction = {}
        for dataset in ("daily_bars", "splits", "dividends"):
            result = warehouse.compact(dataset)
            compaction[dataset] = {
                "periods": len(result.periods),
                "rows": result.rows,
                "seconds": round(result.seconds, 1),
            }
        compacted = measure_phase(warehouse, reps, np.random.default_rng(SEED + 1))
    figures: dict[str, Any] = {}
    for key, value in compacted.items():
        if ":" not in key:
            continue
        kind = key.split(":")[0]
        figures[key] = {
            "p50_ms": value["p50_ms"],
            "p95_ms": value["p95_ms"],
            "cpu_p50_ms": value["cpu_p50_ms"],
            "baseline_p50_ms": baseline[key]["p50_ms"],
            "speedup_vs_per_session_files": round(baseline[key]["p50_ms"] / value["p50_ms"], 1),
            "target_p50_ms": TARGETS_MS[kind],
            "met": value["p50_ms"] <= TARGETS_MS[kind],
        }
    same = baseline["fingerprint"] == compacted["fingerprint"]
    return {
        "benchmark": "warehouse reads (bench/bench_reads.py)",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "libraries": {"duckdb": _version("duckdb"), "pyarrow": _version("pyarrow")},
        "lake": lake,
        "compaction": compaction,
        "figures": figures,
        "targets_met": all(f["met"] for f in figures.values()),
        "baseline_per_session_files": baseline,
        "compacted": compacted,
        "same_results_before_and_after": same,
        "how": (
            "wall time of con.sql(q).to_arrow_table() in one warm in-memory DuckDB connection "
            "from Warehouse.connect(); each repetition a different random ticker or session; "
            "cpu = process CPU time (all DuckDB threads)."
        ),
    }


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the scratch lake")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = run(args.tickers, args.years, args.reps, args.rebuild)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    for key, figure in results["figures"].items():
        flag = "met" if figure["met"] else "NOT met"
        print(
            f"{key:36} p50 {figure['p50_ms']:8.1f} ms  p95 {figure['p95_ms']:8.1f} ms  "
            f"(per-session files {figure['baseline_p50_ms']:8.1f} ms)  "
            f"target {figure['target_p50_ms']:.0f} ms {flag}"
        )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""B5: read latency of the warehouse, measured by bench/bench_reads.py (the warehouse owner's
benchmark: a synthetic daily lake, DuckDB queries before and after compaction), run here in
a fresh worker process and folded into results.json with its targets.
"""

from __future__ import annotations

from typing import Any

from bench.common import Sizes, Target, figure, in_worker, ratio

# Targets of issue 17: ratios against the per-session files measured in the same run.
HISTORY_TARGET = 0.01
CROSS_SECTION_TARGET = 0.1


def _measure(tickers: int, years: int, reps: int) -> dict[str, Any]:
    from bench import bench_reads

    return bench_reads.run(tickers, years, reps)


def run(sizes: Sizes) -> dict[str, dict[str, Any]]:
    reads = in_worker(_measure, sizes.b5_tickers, sizes.b5_years, sizes.b5_reps, what="b5 reads")
    found = reads["figures"]
    lake = reads["lake"]
    same = bool(reads["same_results_before_and_after"])
    where = (
        f"bench_reads: {lake['tickers']:,} tickers x {lake['sessions']:,} sessions "
        f"({lake['daily_bars_rows']:,} daily bars) in per-session Parquet files, then compacted "
        f"by Warehouse.compact; p50/p95 over {sizes.b5_reps} queries on random tickers or "
        "sessions in one warm DuckDB connection (Warehouse.connect); ratio = compacted p50 / "
        "p50 over the per-session files in the same run"
    )

    def one(key: str, kind: str, target: float, extra: dict[str, bool] | None = None):
        measured = found[key]
        return figure(
            kind,
            value=measured["p50_ms"],
            unit="ms",
            baseline=measured["baseline_p50_ms"],
            baseline_label="p50 over the per-session files (before compaction)",
            ratio=ratio(measured["p50_ms"], measured["baseline_p50_ms"]),
            target=Target("<=", target, text=f"p50 <= {target:g}x the per-session files"),
            extra_conditions={"same rows before and after compaction": same, **(extra or {})},
            how=(
                f"{where}. p95 {measured['p95_ms']:.1f} ms, "
                f"CPU p50 {measured['cpu_p50_ms']:.1f} ms."
            ),
            details={**measured, "query_view": key.split(":")[1]},
        )

    adjusted_cross = found["cross_section:daily_bars_adjusted"]
    return {
        "b5_ticker_history_p50": one(
            "ticker_history:daily_bars",
            "B5 one ticker's whole history (daily_bars)",
            HISTORY_TARGET,
        ),
        "b5_cross_section_p50": one(
            "cross_section:daily_bars",
            "B5 one session's cross-section (daily_bars)",
            CROSS_SECTION_TARGET,
        ),
        "b5_adjusted_view_p50": one(
            "ticker_history:daily_bars_adjusted",
            "B5 one ticker's history through the adjusted view (daily_bars_adjusted); its "
            "cross-section as a condition",
            HISTORY_TARGET,
            {
                f"adjusted cross-section p50 {adjusted_cross['p50_ms']:.1f} ms <= "
                f"{CROSS_SECTION_TARGET:g}x its per-session p50 "
                f"({adjusted_cross['baseline_p50_ms']:.1f} ms)": adjusted_cross["p50_ms"]
                <= CROSS_SECTION_TARGET * adjusted_cross["baseline_p50_ms"]
            },
        ),
    }

"""Write the README's benchmark section from bench/results.json (run by `make bench`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MET = {True: "yes", False: "**no**", None: "-"}
# What we know about a missed target: what was profiled and fixed, and what remains.
REMAINS = {
    "b3_ingest_vs_duckdb": (
        "ISA-L inflates beside Arrow's parse (the parse went from ~1.07 s to ~0.3 s), the audit "
        "runs in Arrow beside the encoding (write-audit-publish had made the path 3.3 s), the "
        "digests run side by side. What is left on 2 cores: zstd level 3 encoding of the Parquet "
        "file (~0.5 s, one thread in Arrow; level 1 saves ~0.1 s for 9% larger files), the "
        "constant columns (ETag, LastModified, session: ~0.2 s of fresh memory for 1.8M rows) "
        "and the fsynced writes of the file and its manifest entry. Left: encoding while "
        "parsing (streaming batches into the Parquet writer), which needs the asset to hand "
        "the IO manager batches instead of a table."
    ),
    "b3_ingest_vs_gunzip": "as for b3_ingest_vs_duckdb: parse + audit now overlap, the single-"
    "threaded Parquet encoding after the parse is the largest remaining part.",
    "b3_ingest_peak_memory_vs_duckdb": (
        "the whole session is one Arrow table (the asset returns it to the IO manager) plus its "
        "encoded file; bounded memory needs the same streaming as the wall time."
    ),
    "b4_dagster_vs_raw_loop": (
        "both sides do the same product work (download, verify, write-audit-publish); what "
        "Dagster adds is its event log: two events per session (planned, materialized), each "
        "on SQLite a new connection, a commit and a WAL checkpoint on close (the profile's top "
        "own time: sqlite3 commit/close/execute). Our per-session work in the run is one "
        "ticker count and one metadata entry from the asset and one from the IO manager. "
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1 would drop the planned half but "
        "stops Dagster marking a failed run's sessions as failed, so it is not set. For "
        "backfills use PostgreSQL with batched event writes (b4_dagster_vs_raw_loop_postgres, "
        "README Deployment)."
    ),
    "b4_dagster_vs_raw_loop_postgres": (
        "DAGSTER_EVENT_BATCH_SIZE stores the range run's materializations in one INSERT; the "
        "planned events are still one connection each (dagster-postgres opens a connection "
        "per write, NullPool, with password authentication each time), and the server's own "
        "CPU shares the 2 cores with the run. The details hold the unbatched run and the "
        "SQLite ratio of the same bench run."
    ),
    "b5_cross_section_p50": (
        "12 ms against 72 ms over the per-session files: most of it is materializing 10,000 rows "
        "and the per-session baseline is already one file; the daily tiles are unchanged."
    ),
    "b5_adjusted_view_p50": (
        "the history meets 0.01x; the condition on the adjusted cross-section (<= 0.1x) does "
        "not, as for b5_cross_section_p50."
    ),
    "b8_minute_ticker_year": (
        "minute tiles are now ticker-major over the month (0.52x -> ~0.04x of the per-session "
        "files); the rest is reading ~24 row groups of 32,768 rows from 12 monthly files per "
        "query, cold in DuckDB's buffer (the same query warm: ~13 ms). Left: smaller row groups "
        "for minute tiles or one yearly minute cache per ticker range."
    ),
    "b8_minute_resample_month": (
        "6 ms against 95 ms: the view aggregates in DuckDB over the ticker's month (~1 row group); "
        "planning 12 attached branches is a few ms of it."
    ),
    "b7_celery_rate_limit_3_workers": (
        "0 429s and at most L per window held on 3 workers (the shared PostgreSQL limiter). "
        "Grouped daily now runs 5 sessions per run (its backfill policy): before, one run per "
        "session paid ~2.5 s of run overhead per call (1.84x). After it, 4 runs measured 1.01x, "
        "1.04x, 1.16x and 1.08x on a machine with 1.8-2.0 of its 2 cores busy (1-min load "
        "2.6-8.7), the 3 workers getting about 0.3 cores between them: what is left is the "
        "work after the last window's calls and the last run's 5 sessions in turn on one "
        "worker. dagster-celery's 1 s result poll is a module constant, not configuration, so "
        "it stays. Left: a quieter machine, or fetching a run's sessions concurrently within "
        "its step."
    ),
    "b7_minute_files_2_workers": (
        "the ratio follows the cores the workers got, not the workers: 4 runs measured 1.06x, "
        "1.35x, 1.03x and 1.57x with 1.5-2.0 of the machine's 2 cores busy (1-min load "
        "3.8-8.0, other work); see the CPU seconds, cores and load in bench/results.md. 2 "
        "workers spend ~15% more CPU seconds on the same sessions than 1, so with two free "
        "cores about 1.7x is the ceiling (inferred). In production each worker is its own "
        "machine or pod."
    ),
}


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def section(results: dict[str, Any]) -> str:
    rows = [
        "| figure | value | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for key, figure in results["figures"].items():
        ratio = figure.get("ratio")
        rows.append(
            f"| `{key}` | {_number(figure['value'])} {figure['unit']} "
            f"| {_number(figure.get('baseline'))} | {f'{ratio:.3g}x' if ratio else '-'} "
            f"| {figure.get('target') or '-'} | {MET[figure.get('target_met')]} |"
        )
    missed = [
        f"- `{key}`: {REMAINS.get(key, 'see bench/results.md for how it was measured.')}"
        for key, figure in results["figures"].items()
        if figure.get("target_met") is False
    ]
    if missed:
        rows += ["", "Missed targets, what was done and what remains:", *missed]
    machine = results["machine"]
    return (
        "`make bench` runs the suite against the sandbox at realistic sizes (about 12 minutes\n"
        "here). It writes [bench/results.json](bench/results.json) and\n"
        "[bench/results.md](bench/results.md), which says how each figure was measured. Every\n"
        "figure is a ratio against a baseline measured in the same run, or a count taken at the\n"
        "sandbox. CI runs the tiny `--smoke` sizes through\n"
        "`finance_pipeline_tests/test_bench_smoke.py` to keep the scripts working.\n\n"
        f"Last run: {results['finished'][:16].replace('T', ' ')} UTC, "
        f"{machine.get('cpu_count', '?')} CPUs, a shared and noisy machine.\n\n"
        + "\n".join(rows)
        + "\n"
    )


def main() -> None:
    results = json.loads((ROOT / "bench/results.json").read_text())
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    start = readme.index("## Benchmarks\n") + len("## Benchmarks\n")
    end = readme.index("\n## ", start)
    readme_path.write_text(readme[:start] + "\n" + section(results) + readme[end:])


if __name__ == "__main__":
    main()

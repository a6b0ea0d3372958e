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
        "the raw loop now goes through write-audit-publish too (the IO manager's path), so both "
        "sides do the same product work; the profile of the Dagster side is SQLite event-log "
        "writes (execute/commit/close of the instance's storage, ~0.7 s of 60 sessions' top "
        "own time) and the event serialization: Dagster's per-partition materialization "
        "events. DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1 halves that floor but stops "
        "Dagster from marking the partitions of a failed run as failed, so it is not set. Not "
        "measured yet: the same backfill on PostgreSQL event storage (the deployment's "
        "recommended storage for backfills)."
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
        "0 429s and at most L per window held on 3 workers (the shared PostgreSQL limiter); the "
        "wall is lost on the run side, not in the workers or the limiter: the workers were busy "
        "about a third of it. Each session is its own run, only 4 runs of a backfill are in "
        "flight (the run queue), and dagster-celery's run loop polls for a step's result once a "
        "second, so a run ends up to a second after its step and the next one starts after "
        "that, on a machine at load 11 on 2 cores. Left: more backfill runs in flight or "
        "several sessions per run (one step per session), and a measurement on a quiet machine."
    ),
    "b7_minute_files_2_workers": (
        "measured at load average 6-11 on 2 cores shared with other work, so a second worker "
        "had no free core to use (each worker stayed ~90% busy, yet 2 workers were only 1.12x "
        "faster). Left: re-measure on a quiet machine; in production each worker is its own "
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

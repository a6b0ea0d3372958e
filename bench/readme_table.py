"""Write the README's benchmark section from bench/results.json (run by `make bench`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MET = {True: "yes", False: "**no**", None: "-"}
# What we know about a missed target: what was profiled and fixed, and what remains.
REMAINS = {
    "b4_dagster_vs_raw_loop": (
        "the asset itself now costs what the raw loop costs (Arrow ingest, one log line per run); "
        "the rest is Dagster's per-partition event writes on SQLite: an empty asset over the same "
        "252-partition range already takes ~4 s against a ~5 s raw loop. "
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1 halves that floor but stops Dagster "
        "from marking the partitions of a failed run as failed, so it is not set; PostgreSQL "
        "event storage is the other lever."
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

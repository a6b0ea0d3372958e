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

"""The benchmark suite of issue 7: `python -m bench` (full sizes, ~20-30 min on 2 cores) or
`python -m bench --smoke` (every size shrunk, < 60 s; CI runs it).

Writes results.json and results.md: full runs into bench/, smoke runs into bench/.scratch/smoke
(so CI never overwrites the published figures) unless --output-dir says otherwise. A partial run
(`--only b3,b4`) updates the results already there: its figures (and the extrapolation, when B3
or B4 ran) replace theirs, the others are kept, and `runs` records which run measured what.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    b1_calls,
    b2_rate_limit,
    b3_ingest,
    b4_dagster,
    b5_reads,
    b6_old_vs_new,
    b7_workers,
    b8_minute_reads,
    b9_daemon,
    extrapolate,
    report,
)
from bench.common import (
    BENCH_DIR,
    FIGURE_KEYS,
    FULL,
    SCRATCH,
    SMOKE,
    SMOKE_SKIPPED_GROUPS,
    Sizes,
    in_worker,
    library_versions,
    machine,
    noop,
    open_sandbox,
    year_sessions,
)

GROUPS = ("b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9")
NOTES = [
    "B1 and B6 send the old per-ticker path as a measured SAMPLE (stated in each figure): the "
    "sandbox serves one per-ticker request in tens of milliseconds, so 126,000 of them would "
    "outlast the whole suite; the sandbox counts prove one call per (ticker, session) and the "
    "full figure is tickers x sessions.",
    "Rate limits are compressed in time (B2: L per W seconds, B6: 5/min as 5 per second); "
    "each figure states its factor.",
    "B3/B4 variants each run in a fresh process forked from one preloaded forkserver, so "
    "their CPU seconds and peak memory are their own; wall-time ratios compare variants "
    "measured minutes apart on a shared machine.",
]


def _groups(
    sizes: Sizes, only: set[str], errors: dict[str, str]
) -> list[tuple[str, Callable[[], dict[str, dict[str, Any]]]]]:
    end = year_sessions(sizes.sessions)[-1]

    def b134() -> dict[str, dict[str, Any]]:
        sandbox = open_sandbox(sizes, end=end)
        try:
            figures: dict[str, dict[str, Any]] = {}
            for name, module in (("b1", b1_calls), ("b3", b3_ingest), ("b4", b4_dagster)):
                if name in only:
                    figures.update(_guarded(name, lambda m=module: m.run(sizes, sandbox), errors))
            return figures
        finally:
            sandbox.close()

    limited: dict[tuple[int, float], list[tuple[str, Callable[..., Any]]]] = {}
    for name, run, limit, window in (
        ("b2", b2_rate_limit.run, sizes.b2_limit, sizes.b2_window_seconds),
        ("b6", b6_old_vs_new.run, sizes.b6_limit, sizes.b6_window_seconds),
        ("b7", b7_workers.run, sizes.b7_limit, sizes.b7_window_seconds),
    ):
        if name in only:
            limited.setdefault((limit, window), []).append((name, run))

    def rate_limited(limit: int, window: float, runs: list[tuple[str, Callable[..., Any]]]):
        def go() -> dict[str, dict[str, Any]]:
            sandbox = open_sandbox(
                sizes, end=end, rate_limit_per_minute=limit, rate_limit_window_seconds=window
            )
            try:
                figures: dict[str, dict[str, Any]] = {}
                for name, run in runs:
                    figures.update(_guarded(name, lambda r=run: r(sizes, sandbox), errors))
                return figures
            finally:
                sandbox.close()

        return go

    groups: list[tuple[str, Callable[[], dict[str, dict[str, Any]]]]] = []
    if only & {"b1", "b3", "b4"}:
        groups.append(("sandbox for b1/b3/b4", b134))
    for (limit, window), runs in limited.items():
        label = "/".join(name for name, _ in runs)
        groups.append((f"sandbox for {label}", rate_limited(limit, window, runs)))
    if "b5" in only:
        groups.append(("b5", lambda: b5_reads.run(sizes)))
    if "b8" in only:
        groups.append(("b8", lambda: b8_minute_reads.run(sizes)))
    if "b9" in only:
        groups.append(("sandbox for b9", lambda: _with_sandbox("b9", b9_daemon.run, sizes, errors)))
    return groups


def _with_sandbox(
    name: str, run: Callable[..., dict[str, dict[str, Any]]], sizes: Sizes, errors: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """`run(sizes, sandbox)` against a sandbox of its own (no rate limit)."""
    sandbox = open_sandbox(sizes, end=year_sessions(sizes.sessions)[-1])
    try:
        return _guarded(name, lambda: run(sizes, sandbox), errors)
    finally:
        sandbox.close()


_STARTED = time.monotonic()


def _say(message: str) -> None:
    print(f"[bench +{time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


def _guarded(
    name: str, action: Callable[[], dict[str, dict[str, Any]]], errors: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The figures of `action`; on failure none, and the reason in `errors[name]`."""
    began = time.perf_counter()
    _say(f"{name} ...")
    try:
        figures = action()
    except Exception as exc:
        traceback.print_exc()
        errors[name] = f"{type(exc).__name__}: {exc}"
        return {}
    _say(f"{name} done in {time.perf_counter() - began:.1f} s")
    return figures


def run_suite(sizes: Sizes, only: set[str]) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    machine_start = machine()
    # Starting a worker blocks until the forkserver has imported its preload (Dagster & co.):
    # do it in a thread so the first sandbox starts meanwhile.
    warm = threading.Thread(target=in_worker, args=(noop,), kwargs={"what": "warm-up"})
    warm.start()
    figures: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    SCRATCH.mkdir(parents=True, exist_ok=True)
    for name, action in _groups(sizes, only, errors):
        figures.update(_guarded(name, action, errors))
    warm.join()
    if "b3_ingest_vs_duckdb" in figures and "b4_dagster_vs_raw_loop" in figures:
        figures.update(_guarded("extrapolation", lambda: extrapolate.run(figures), errors))
    ordered = {key: figures[key] for key in FIGURE_KEYS if key in figures}
    for key in FIGURE_KEYS:
        group = _group_of(key)
        if key not in ordered and (
            group in only or (group == "extrapolation" and {"b3", "b4"} <= only)
        ):
            ordered[key] = _missing(key, errors)
    machine_end = machine()
    return {
        "suite": "finance_pipeline benchmarks (issue 7)",
        "mode": sizes.mode,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - began, 1),
        "machine": {
            **{k: v for k, v in machine_start.items() if k != "load_average"},
            "load_average_start": machine_start["load_average"],
            "load_average_end": machine_end["load_average"],
        },
        "versions": library_versions(),
        "sizes": sizes.__dict__,
        "figures": ordered,
        "errors": errors,
        "notes": NOTES,
    }


def _group_of(key: str) -> str:
    return key.split("_", 1)[0]


def _missing(key: str, errors: dict[str, str]) -> dict[str, Any]:
    reason = "; ".join(f"{group}: {message}" for group, message in errors.items())
    return {
        "title": key,
        "value": None,
        "unit": "",
        "baseline": None,
        "ratio": None,
        "target": None,
        "target_met": None,
        "how": "",
        "error": f"not measured ({reason or 'its inputs failed'})",
    }


def _previous(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_summary(results: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    machine = results["machine"]
    return {
        "started": results["started"],
        "finished": results["finished"],
        "duration_seconds": results["duration_seconds"],
        "groups": groups,
        "load_average_start": machine["load_average_start"],
        "load_average_end": machine["load_average_end"],
    }


def merge(
    previous: dict[str, Any] | None, current: dict[str, Any], only: set[str]
) -> dict[str, Any]:
    """A partial run (--only) as an update of the published results: its figures replace
    theirs, every other figure is kept, and `runs` says which run measured which groups (each
    figure's `run` is the start of its run). A previous file of another mode is replaced."""
    groups = sorted(only)
    if previous is None or previous.get("mode") != current["mode"]:
        return {**current, "runs": [_run_summary(current, groups)]}
    old_runs = previous.get("runs") or [_run_summary(previous, list(GROUPS))]
    # A figure of a group that ran now and did not produce it again is gone (renamed or
    # dropped), not kept from the previous run.
    figures = {
        key: {**figure, "run": figure.get("run", previous["started"])}
        for key, figure in previous["figures"].items()
        if _group_of(key) not in only or key in current["figures"]
    }
    for key, figure in current["figures"].items():
        figures[key] = {**figure, "run": current["started"]}
    measured = {_group_of(key) for key in current["figures"]}
    if measured & {"b3", "b4"} and {"b3_ingest_vs_duckdb", "b4_dagster_vs_raw_loop"} <= set(
        figures
    ):
        # The extrapolation is derived from B3 and B4: keep it consistent with both.
        derived = extrapolate.run(figures)["extrapolation_cpu_hours"]
        figures["extrapolation_cpu_hours"] = {**derived, "run": current["started"]}
    used = {figure["run"] for figure in figures.values()}
    runs = [
        run for run in old_runs if run["started"] in used and run["started"] != current["started"]
    ]
    for run in runs:  # groups whose figures were all re-measured now are no longer its own
        run["groups"] = [g for g in run["groups"] if g not in measured]
    errors = {g: e for g, e in previous.get("errors", {}).items() if g not in only}
    return {
        **current,
        "figures": {key: figures[key] for key in (*FIGURE_KEYS, *figures) if key in figures},
        "errors": {**errors, **current["errors"]},
        "runs": [*runs, _run_summary(current, groups)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, < 60 s (CI)")
    parser.add_argument("--output-dir", type=Path, help="where results.json/.md go")
    parser.add_argument(
        "--only", help=f"comma-separated groups to run ({','.join(GROUPS)}); default all"
    )
    args = parser.parse_args(argv)
    # Beta/preview notices of Dagster APIs at import, in this process and in every worker (the
    # forkserver inherits the environment): not benchmark output.
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.simplefilter("ignore")
    sizes = SMOKE if args.smoke else FULL
    default = set(GROUPS) - set(SMOKE_SKIPPED_GROUPS) if args.smoke else set(GROUPS)
    only = default if not args.only else {g.strip() for g in args.only.split(",")}
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    output = args.output_dir or (SCRATCH / "smoke" if args.smoke else BENCH_DIR)
    results = run_suite(sizes, only)
    output.mkdir(parents=True, exist_ok=True)
    partial = only != default
    results = merge(_previous(output / "results.json") if partial else None, results, only)
    (output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (output / "results.md").write_text(report.render(results))
    print(report.render(results))
    _say(f"wrote {output / 'results.json'} and {output / 'results.md'}")
    if results["errors"]:
        print(f"[bench] FAILED: {results['errors']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

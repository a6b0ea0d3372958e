"""B7: the same backfills on 1, 2 and 3 Celery workers (FINANCE_PIPELINE_EXECUTOR=celery) that
share only PostgreSQL (instance + rate limiter), Redis, an S3 lake (moto) and the sandbox.

- Rate-limited: K grouped-daily sessions under L requests per W seconds (compressed), cut into
  runs by the asset's backfill policy (SESSIONS_PER_RUN per run, 4 runs in flight, as the run
  queue allows a backfill), on 1 and on 3 workers; wall against the K/L-window bound, 429s at
  the sandbox, and worker utilization (time executing steps, limiter waits excluded / workers
  x wall).
- CPU-bound: whole-market minute flat files, one run per session (so 2 workers have runs to
  share), on 1 and on 2 workers of one core each (worker i pinned to core i, as pods of one CPU
  would run them: one worker's ingest threads would otherwise already spread over both cores
  and the comparison would measure the machine, not the workers); the scaling efficiency is
  the ratio of the two walls, beside
  the workers' CPU seconds and how busy the machine's cores were meanwhile (other work on a
  shared machine takes cores the second worker would use).

The `polygon_api` pool is sized to the runs (K): the workers cap concurrency, the limiter the
request rate; a pool smaller than the queue only adds the pool's claim-polling gaps.
Walls run from the first step's start to the last step's end, from the event log (process
start-up of workers and run coordinators is not the pipeline's work). The harness is the one
of finance_pipeline_tests/distributed (the multi-worker test).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import SCRATCH, Sizes, Target, environment, figure, ratio, year_sessions

MINUTE_DATASET = "minute_aggs_v1"


@contextlib.contextmanager
def _shared_services() -> Iterator[tuple[dict[str, str], str, str]]:
    """PostgreSQL, Redis and a moto S3 lake: (DAGSTER_PG_*, broker URL, S3 endpoint)."""
    from finance_pipeline_tests.distributed.cluster import LAKE_BUCKET
    from finance_pipeline_tests.moto_s3 import moto_s3
    from finance_pipeline_tests.servers import postgres_server, redis_server

    with postgres_server() as pg, redis_server() as broker, moto_s3() as (endpoint, s3):
        s3.create_bucket(Bucket=LAKE_BUCKET)
        yield pg, broker, endpoint


def _timeline(env: dict[str, str], base: Path, run_ids: list[str]) -> dict[str, Any]:
    """Wall (first step start to last step end), and per worker the seconds in steps and the
    part of them spent waiting for a limiter slot."""
    import dagster as dg

    from finance_pipeline_tests.distributed.cluster import dagster_home, steps_of

    postgres = {k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")}
    with (
        environment(postgres),
        dg.DagsterInstance.from_config(str(dagster_home(base / "reader"))) as instance,
    ):
        steps = steps_of(instance, run_ids)
    wall = max(s.finished for s in steps) - min(s.started for s in steps)
    busy: dict[str, float] = {}
    waited: dict[str, float] = {}
    for step in steps:
        busy[step.worker] = busy.get(step.worker, 0.0) + step.finished - step.started
        waited[step.worker] = waited.get(step.worker, 0.0) + step.limiter_wait
    return {
        "wall_seconds": wall,
        "busy_seconds_by_worker": {w: round(b, 2) for w, b in sorted(busy.items())},
        "limiter_wait_seconds_by_worker": {w: round(b, 2) for w, b in sorted(waited.items())},
        "steps_failed": sum(not s.succeeded for s in steps),
    }


def _snapshot(workers: Any) -> dict[str, Any]:
    """The workers' CPU seconds, the machine's (busy, total) clock ticks of all cores since
    boot, every process (Linux /proc/stat), and the 1-minute load average, now."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return {
        "cpu": workers.cpu_seconds(),
        "harness": own.ru_utime + own.ru_stime,  # this process: sandbox REST, moto S3 lake
        "runs": children.ru_utime + children.ru_stime,  # the coordinator and its runs, once reaped
        "busy": sum(ticks) - idle,
        "total": sum(ticks),
        "load": os.getloadavg()[0],
    }


def _usage(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Over the backfill (first run's submission to last run's end): the cores our workers
    got, what this process (the sandbox's REST server and the moto S3 lake, threads of it) and
    the run side (coordinator and runs) used, and the cores busy with anything on the machine
    (PostgreSQL, Redis, the sandbox's S3 child and other people's work included)."""
    cpu = {name: round(after["cpu"][name] - before["cpu"][name], 2) for name in before["cpu"]}
    share = (after["busy"] - before["busy"]) / max(after["total"] - before["total"], 1)
    return {
        "worker_cpu_seconds": cpu,
        "harness_cpu_seconds": round(after["harness"] - before["harness"], 2),
        "run_side_cpu_seconds": round(after["runs"] - before["runs"], 2),
        "backfill_seconds": round(seconds, 2),
        "worker_cores_used": round(sum(cpu.values()) / seconds, 2),
        "machine_cores_busy": round((os.cpu_count() or 1) * share, 2),
        "load_average_1min": [round(before["load"], 2), round(after["load"], 2)],
    }


def _measure(
    sandbox: Any,
    services: tuple[dict[str, str], str, str],
    workers: int,
    job: str,
    asset: str,
    sessions: list[dt.date],
    limit: int,
    window: int,
    sessions_per_run: int = 0,
    one_core_each: bool = False,
) -> dict[str, Any]:
    from finance_pipeline_tests.distributed.cluster import celery_workers, pipeline_env
    from finance_pipeline_tests.distributed.cluster import run_backfill as backfill
    from finance_pipeline_tests.moto_s3 import MOTO_KEYS

    pg, broker, endpoint = services
    env = pipeline_env(
        postgres=pg,
        broker_url=broker,
        sandbox_env=sandbox.env(),
        lake_endpoint=endpoint,
        s3_keys=MOTO_KEYS,
        rate_limit=limit,
        window_seconds=window,
    )
    env["FINANCE_PIPELINE_LAKE"] += f"-{asset}-{workers}"  # a fresh lake prefix per measurement
    SCRATCH.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
        base = Path(work)
        with celery_workers(workers, env, base, one_core_each=one_core_each) as started:
            sandbox.reset_counters()
            before = _snapshot(started)
            done = backfill(
                env,
                base,
                job,
                asset,
                [s.isoformat() for s in sessions],
                pool_slots=len(sessions),
                sessions_per_run=sessions_per_run,
            )
            usage = _usage(before, _snapshot(started), done.wall_seconds)
        counters = sandbox.counters
        timeline = _timeline(env, base, [run.run_id for run in done.runs])
    if done.failed():
        raise RuntimeError(f"B7 runs failed for {done.failed()}:\n{done.output[-3000:]}")
    busy = sum(timeline["busy_seconds_by_worker"].values())
    waited = sum(timeline["limiter_wait_seconds_by_worker"].values())
    return {
        **timeline,
        "workers": workers,
        "sessions": len(sessions),
        "runs": len(done.runs),
        # Executing steps, not waiting in them for a limiter slot; with the waits: occupancy.
        "utilization": (busy - waited) / (workers * timeline["wall_seconds"]),
        "occupancy": busy / (workers * timeline["wall_seconds"]),
        "calls_counted": counters.rest_total,
        "status_429_counted": counters.rest_statuses[429],
        **usage,
    }


def _rate_limited_figures(outcomes: dict[int, dict[str, Any]], sizes: Sizes) -> dict[str, Any]:
    from finance_pipeline.assets.grouped_daily import SESSIONS_PER_RUN

    k, limit, window = sizes.b7_sessions, sizes.b7_limit, sizes.b7_window_seconds
    bound = k / limit * window
    tight = (math.ceil(k / limit) - 1) * window
    figures = {}
    for workers, key, target in (
        (1, "b7_celery_rate_limit_1_worker", None),
        (3, "b7_celery_rate_limit_3_workers", Target("<=", 1.05, text="<= 1.05x K/L, 0 429s")),
    ):
        o = outcomes[workers]
        figures[key] = figure(
            f"B7 grouped-daily backfill of {k} sessions under {limit} calls per {window:g} s "
            f"on {workers} Celery worker(s)",
            value=o["wall_seconds"],
            unit="s",
            baseline=bound,
            baseline_label=f"bound: K/L windows = {k}/{limit} x {window:g} s",
            ratio=ratio(o["wall_seconds"], bound),
            target=target,
            extra_conditions={"0 429s at the sandbox": o["status_429_counted"] == 0},
            how=(
                f"{o['runs']} runs of grouped_daily_bars (up to {SESSIONS_PER_RUN} sessions each, "
                "as its backfill policy cuts a backfill; 4 in flight as the run queue allows a "
                f"backfill) on {workers} worker(s) sharing the PostgreSQL limiter; wall from the "
                "first step's "
                f"start to the last step's end (event log). The sandbox counted "
                f"{o['calls_counted']} calls and {o['status_429_counted']} 429s. Least possible "
                f"wall: (ceil(K/L)-1) windows = {tight:g} s plus one step."
            ),
            details={**o, "bound_seconds": bound, "lower_bound_seconds": tight},
        )
        figures[f"b7_utilization_{workers}_worker{'s' if workers > 1 else ''}"] = figure(
            f"B7 worker utilization, rate-limited backfill on {workers} worker(s)",
            value=100 * o["utilization"],
            unit="%",
            baseline=None,
            baseline_label="",
            ratio=None,
            target=None,
            how=(
                "Seconds executing steps (STEP_START to STEP_SUCCESS less the seconds the "
                "step was held for a limiter slot: the longest wait of its sessions, whose calls "
                "go out together, from their materializations) over workers "
                f"x wall; with the waits (occupancy) {o['occupancy']:.0%}. Behind a rate limit, "
                "more workers mean lower utilization: seconds in steps by worker "
                f"{o['busy_seconds_by_worker']}, of them waiting for the limiter "
                f"{o['limiter_wait_seconds_by_worker']}. CPU: {_cpu_text(o)}."
            ),
            details=o,
        )
    return figures


def _cpu_text(o: dict[str, Any]) -> str:
    """What the workers got of the machine while the backfill ran."""
    cpu = o["worker_cpu_seconds"]
    load = o["load_average_1min"]
    return (
        f"{sum(cpu.values()):.1f} CPU s in the workers over {o['backfill_seconds']:.1f} s "
        f"({o['worker_cores_used']:.2f} cores), {o['harness_cpu_seconds']:.1f} s in the "
        f"harness (sandbox REST, moto lake), {o['run_side_cpu_seconds']:.1f} s on the run side; "
        f"machine {o['machine_cores_busy']:.2f} of {os.cpu_count()} cores busy, 1-min load "
        f"{load[0]:.1f} -> {load[1]:.1f}"
    )


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    """`sandbox` must admit `sizes.b7_limit` requests per `sizes.b7_window_seconds`."""
    from finance_pipeline.clients import FlatFilesClient
    from finance_pipeline.registry import FLAT_FILE_MINUTE_AGGS, GROUPED_DAILY_BARS

    sessions = year_sessions(max(sizes.b7_sessions, sizes.b7_minute_sessions))
    minute_sessions = sessions[: sizes.b7_minute_sessions]
    files = FlatFilesClient(sandbox.s3_client(), bucket=sandbox.bucket)
    for session in minute_sessions:  # generated now, not while measured
        if files.head(MINUTE_DATASET, session) is None:
            raise RuntimeError(f"the sandbox did not publish the minute file of {session}")
    limit, window = sizes.b7_limit, sizes.b7_window_seconds
    grouped = sessions[: sizes.b7_sessions]
    with _shared_services() as services:
        limited = {
            n: _measure(
                sandbox,
                services,
                n,
                "daily_sources_job",
                GROUPED_DAILY_BARS,
                grouped,
                limit,
                window,
            )
            for n in (1, 3)
        }
        minute = {
            n: _measure(
                sandbox,
                services,
                n,
                "flat_files_job",
                FLAT_FILE_MINUTE_AGGS,
                minute_sessions,
                limit,
                window,
                sessions_per_run=1,
                one_core_each=True,
            )
            for n in (1, 2)
        }
    figures = _rate_limited_figures(limited, sizes)
    speedup = ratio(minute[1]["wall_seconds"], minute[2]["wall_seconds"])
    figures["b7_minute_files_2_workers"] = figure(
        f"B7 {len(minute_sessions)} whole-market minute flat-file sessions on 2 workers vs 1",
        value=minute[2]["wall_seconds"],
        unit="s",
        baseline=minute[1]["wall_seconds"],
        baseline_label="the same runs on 1 worker (same run)",
        ratio=speedup,
        target=Target(">=", 1.5, text=">= 1.5x faster than one worker"),
        how=(
            f"{len(minute_sessions)} runs of flat_file_minute_aggs (one per session, "
            f"{sizes.market_tickers:,} tickers each, CPU-bound CSV -> Parquet) on 1 then 2 "
            "workers of one core each (taskset: worker i on core i); the ratio is the "
            "1-worker wall over the 2-worker wall (scaling efficiency "
            f"{(speedup or 0) / 2:.0%}). Utilization: 1 worker "
            f"{minute[1]['utilization']:.0%}, 2 workers {minute[2]['utilization']:.0%}. "
            f"CPU: 1 worker {_cpu_text(minute[1])}; 2 workers {_cpu_text(minute[2])}."
        ),
        details={"one_worker": minute[1], "two_workers": minute[2]},
    )
    return figures

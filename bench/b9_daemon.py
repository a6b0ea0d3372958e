"""B9: a backfill of whole-market minute flat files through a real `dagster-daemon` (issue 17).

A fresh on-disk instance in a temporary DAGSTER_HOME with the product's instance config
(finance_pipeline/local_instance.yaml: the run queue, max_concurrent_runs, the dagster/backfill
tag limit, pools), the code location loaded as workspace.yaml loads it, and `dagster-daemon run`
in its own process group. Once the daemon reports and its sensors have ticked (the code location
is loaded), one partition backfill of `b9_sessions` sessions of flat_file_minute_aggs is added
to the instance as the CLI's `backfill` does (`runs.backfill.submit_backfill`, the classes the
webserver's launchPartitionBackfill builds); the daemon cuts it into runs by the asset's
backfill policy, queues and launches them. Wall: from the submission to the last
materialization's event; the history's hours at the pace to the last run's end (checks too).
Baseline, same run: the in-process product ingest of one session (B3's path + its S3 GET).

The automation sensor evaluates once at start-up only (as in the end-to-end test): the curated
runs it would start after the backfill would compete with the backfill for the cores.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    SCRATCH,
    Sizes,
    environment,
    figure,
    flat_file_access,
    in_worker,
    median,
    ratio,
    wait_for,
    year_sessions,
)
from bench.extrapolate import history_sessions

DATASET = "minute_aggs_v1"
START_SECONDS = 300  # the daemon's start: its code server imports Dagster and the definitions
HISTORY_NOTE = (
    "This machine's 2 cores shared with other work, the product's run queue (2 backfill runs "
    "at once). Every session at today's market size (early years are far smaller); the "
    "sandbox's S3 is local, so Polygon's S3 transfer time is not in it."
)
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@contextmanager
def _daemon(env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run -w workspace.yaml` in its own process group; stopped as `make ui`
    stops `dagster dev` (SIGINT, then the group is killed)."""
    from finance_pipeline.ui import stop_group
    from finance_pipeline_tests.distributed.cluster import clean_env

    command = [str(Path(sys.executable).with_name("dagster-daemon")), "run"]
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [*command, "-w", "workspace.yaml"],
            cwd=REPO,
            env=clean_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        try:
            yield daemon
        finally:
            stop_group(daemon)


def _alive(daemon: subprocess.Popen, log: Path) -> None:
    if daemon.poll() is not None:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"dagster-daemon exited ({daemon.returncode}):\n{tail}")


def _ready(instance: Any) -> bool:
    """The daemon reports and its sensors ticked: the code location is loaded."""
    from dagster._core.scheduler.instigation import InstigatorType

    from finance_pipeline.runs.backfill import daemon_is_running

    if not daemon_is_running(instance):
        return False
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return any(instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1) for s in states)


def _status(instance: Any, backfill_id: str) -> str:
    backfill = instance.get_backfill(backfill_id)
    return backfill.status.value if backfill is not None else ""


def _backfill(
    env: Mapping[str, str], home: Path, sessions: list[dt.date], sandbox: Any, log: Path
) -> dict[str, Any]:
    """Start the daemon, submit the backfill once it is ready, wait for the backfill; what
    the instance recorded of it."""
    import dagster as dg

    from finance_pipeline.definitions import build_definitions
    from finance_pipeline.registry import FLAT_FILE_MINUTE_AGGS
    from finance_pipeline.runs.backfill import submit_backfill

    with environment(env):
        defs = build_definitions()
    with dg.DagsterInstance.from_config(str(home)) as instance:  # creates the storage first
        sandbox.reset_counters()
        with _daemon(env, log) as daemon:
            began = time.monotonic()
            wait_for(lambda: _alive(daemon, log) or _ready(instance), START_SECONDS, "the daemon")
            started = time.monotonic() - began
            load, submitted = os.getloadavg()[0], time.time()
            backfill_id = submit_backfill(
                defs,
                instance,
                {FLAT_FILE_MINUTE_AGGS: sessions},
                title="bench b9",
                tags={"finance_pipeline/bench": "b9"},
            )
            wait_for(
                lambda: _alive(daemon, log) or _status(instance, backfill_id) in FINISHED,
                1800,
                f"backfill {backfill_id}",
                poll=0.5,
            )
            load_after = os.getloadavg()[0]
        recorded = _recorded(instance, backfill_id, FLAT_FILE_MINUTE_AGGS)
        status = _status(instance, backfill_id)
    return {
        **recorded,
        "daemon_start_seconds": started,
        "submitted": submitted,
        "wall_seconds": recorded["last_materialization"] - submitted,
        "completed_wall_seconds": max((r["ended"] for r in recorded["runs"]), default=0)
        - submitted,
        # The backfill daemon looks for new backfills every 30 s (Dagster's daemon interval).
        "first_run_after_seconds": min((r["created"] for r in recorded["runs"]), default=0)
        - submitted,
        "status": status,
        "rest_calls_counted": sandbox.counters.rest_total,
        "load_average_1min": [load, load_after],
    }


def _recorded(instance: Any, backfill_id: str, asset: str) -> dict[str, Any]:
    """Per partition its materializations; per run its queue wait, duration and the seconds
    its steps ran, the asset's and its checks' (STEP_START to STEP_SUCCESS/FAILURE)."""
    import dagster as dg
    from dagster._core.storage.tags import BACKFILL_ID_TAG

    records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
    counts: dict[str, int] = {}
    for record in records:
        counts[record.partition_key] = counts.get(record.partition_key, 0) + 1
    runs = []
    filters = dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})
    for run in instance.get_run_records(filters=filters):
        steps = _steps(instance, run.dagster_run.run_id)
        runs.append(
            {
                "run_id": run.dagster_run.run_id,
                "created": run.create_timestamp.timestamp(),
                "status": run.dagster_run.status.value,
                "queued_seconds": (run.start_time or 0) - run.create_timestamp.timestamp(),
                "run_seconds": (run.end_time or 0) - (run.start_time or 0),
                "ended": run.end_time or 0,
                "asset_step_seconds": steps.get(asset, 0.0),
                "check_step_seconds": sum(v for k, v in steps.items() if k != asset),
                "steps": {key: round(seconds, 2) for key, seconds in steps.items()},
            }
        )
    return {
        "materializations_by_partition": counts,
        "last_materialization": max(r.timestamp for r in records) if records else time.time(),
        "runs": runs,
    }


def _steps(instance: Any, run_id: str) -> dict[str, float]:
    """Seconds per step of the run (the asset's step and its checks' steps)."""
    import dagster as dg

    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event.is_step_start:
            started[event.step_key] = entry.timestamp
        elif event.step_key in started:
            seconds[event.step_key] = entry.timestamp - started.pop(event.step_key)
    return seconds


def _in_process(sandbox: Any, session: dt.date, repeats: int, work: Path) -> dict[str, Any]:
    """B3's product path for one session, plus the S3 GET it starts from, each in a fresh
    worker (median of `repeats`)."""
    from bench.b3_ingest import fetch_measured, ingest, object_key

    access = flat_file_access(sandbox)
    head = sandbox.s3_client().head_object(Bucket=sandbox.bucket, Key=object_key(session))
    etag = head["ETag"].strip('"')
    gets, ingests = [], []
    for _ in range(repeats):
        packed = str(work / "object.csv.gz")
        got = in_worker(fetch_measured, access, object_key(session), packed, what="b9 S3 GET")
        with tempfile.TemporaryDirectory(dir=work) as out:
            done = in_worker(ingest, "product", packed, etag, session, out, what="b9 product")
        gets.append(got["wall_seconds"])
        ingests.append(done["wall_seconds"])
    return {
        "session": session.isoformat(),
        "s3_get_seconds_median": median(gets),
        "product_seconds_median": median(ingests),
        "seconds_per_session": median([g + i for g, i in zip(gets, ingests, strict=True)]),
    }


def _checked(outcome: dict[str, Any], sessions: list[dt.date], lake: Path) -> dict[str, bool]:
    """Every partition materialized once and stored verified, every run succeeded, no REST."""
    from finance_pipeline.lake import Lake
    from finance_pipeline.registry import FLAT_FILE_MINUTE_AGGS
    from finance_pipeline.runs.stored import lake_state

    stored, bad = lake_state(Lake(str(lake)), [FLAT_FILE_MINUTE_AGGS], sessions)
    counts = outcome["materializations_by_partition"]
    conditions = {
        "backfill COMPLETED_SUCCESS": outcome["status"] == "COMPLETED_SUCCESS",
        "every run succeeded": all(r["status"] == "SUCCESS" for r in outcome["runs"]),
        "every partition materialized once": counts == {s.isoformat(): 1 for s in sessions},
        "every session stored and verified in the lake": (
            stored[FLAT_FILE_MINUTE_AGGS] == set(sessions) and not bad
        ),
        "0 REST calls at the sandbox": outcome["rest_calls_counted"] == 0,
    }
    failed = [name for name, held in conditions.items() if not held]
    if failed:
        raise RuntimeError(f"B9 backfill: {failed} do not hold: {outcome}")
    return conditions


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    from finance_pipeline.clients import FlatFilesClient
    from finance_pipeline.local_instance import LOCAL_INSTANCE_YAML

    sessions = year_sessions(sizes.b9_sessions)
    files = FlatFilesClient(sandbox.s3_client(), bucket=sandbox.bucket)
    for session in sessions:  # generated now, not while measured
        if files.head(DATASET, session) is None:
            raise RuntimeError(f"the sandbox did not publish the minute file of {session}")
    SCRATCH.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        work = Path(tmp)
        home, lake = work / "dagster_home", work / "lake"
        home.mkdir()
        (home / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML.read_text())
        env = {
            **sandbox.env(),
            "DAGSTER_HOME": str(home),
            "FINANCE_PIPELINE_LAKE": str(lake),
            "FINANCE_PIPELINE_AUTOMATION_INTERVAL": "3600",
        }
        outcome = _backfill(env, home, sessions, sandbox, work / "daemon.log")
        conditions = _checked(outcome, sessions, lake)
        baseline = _in_process(sandbox, sessions[0], sizes.b3_repeats, work)
    return _figures(outcome, baseline, conditions, sessions, sizes)


def _how(
    outcome: dict[str, Any], baseline: dict[str, Any], sessions: list[dt.date], sizes: Sizes
) -> str:
    from finance_pipeline.assets.flat_file_aggs import MINUTE_SESSIONS_PER_RUN

    runs = outcome["runs"]
    return (
        f"{len(sessions)} sessions of flat_file_minute_aggs ({sizes.market_tickers:,}-ticker "
        f"market, {sessions[0]}..{sessions[-1]}) as one partition backfill (submit_backfill, as "
        "the CLI and the webserver's launchPartitionBackfill add it) to a fresh SQLite instance "
        "with local_instance.yaml (QueuedRunCoordinator, 4 runs, 2 per backfill, pools), run by "
        f"`dagster-daemon run -w workspace.yaml`: {len(runs)} run(s) of up to "
        f"{MINUTE_SESSIONS_PER_RUN} sessions (the asset's backfill policy), each with the "
        "asset's checks as a UI backfill runs them. Wall from the submission to the last "
        f"materialization event: {outcome['wall_seconds']:.1f} s (the daemon had started, "
        f"{outcome['daemon_start_seconds']:.1f} s, not counted): the daemon created the runs "
        f"{outcome['first_run_after_seconds']:.1f} s after the submission (its backfill loop "
        f"runs every 30 s), they queued and started in {_seconds(runs, 'queued_seconds')} s, "
        f"the asset's steps ran {_seconds(runs, 'asset_step_seconds')} s; the checks' steps "
        f"then ran {_seconds(runs, 'check_step_seconds')} s and the last run ended "
        f"{outcome['completed_wall_seconds']:.1f} s after the submission. Baseline, same run: "
        f"B3's product path on {baseline['session']} in a fresh process "
        f"({baseline['product_seconds_median']:.2f} s) plus its S3 GET from the same sandbox "
        f"({baseline['s3_get_seconds_median']:.2f} s), median of {sizes.b3_repeats}, no checks. "
        f"1-min load {outcome['load_average_1min'][0]:.1f} -> "
        f"{outcome['load_average_1min'][1]:.1f}."
    )


def _history_hours(outcome: dict[str, Any], sessions: int, history: int) -> float:
    """The history's runs back to back at B9's pace to the last run's end (checks included),
    the daemon's pick-up of the backfill paid once."""
    pickup = outcome["first_run_after_seconds"]
    return (pickup + history * (outcome["completed_wall_seconds"] - pickup) / sessions) / 3600


def _figures(
    outcome: dict[str, Any],
    baseline: dict[str, Any],
    conditions: dict[str, bool],
    sessions: list[dt.date],
    sizes: Sizes,
) -> dict[str, dict[str, Any]]:
    n, wall = len(sessions), outcome["wall_seconds"]
    per_session, in_process = wall / n, baseline["seconds_per_session"]
    history, end = history_sessions()
    rate, in_process_rate = 3600 / per_session, 3600 / in_process
    hours, in_process_hours = _history_hours(outcome, n, history), history * in_process / 3600
    how = _how(outcome, baseline, sessions, sizes)
    common = {"target": None, "extra_conditions": conditions}
    return {
        "b9_daemon_sessions_per_hour": figure(
            f"B9 {n} whole-market minute sessions backfilled through dagster-daemon: "
            "sessions per hour",
            value=rate,
            unit="sessions/h",
            baseline=in_process_rate,
            baseline_label="the in-process product ingest (B3's path + S3 GET), same run",
            ratio=ratio(rate, in_process_rate),
            how=how,
            details={**outcome, "in_process": baseline, "sessions": n},
            **common,
        ),
        "b9_daemon_wall_per_session": figure(
            "B9 daemon backfill: wall per session vs the in-process product ingest per session",
            value=per_session,
            unit="s",
            baseline=in_process,
            baseline_label="B3's product path + its S3 GET, one session, same run",
            ratio=ratio(per_session, in_process),
            how=(
                f"{wall:.1f} s over {n} sessions against {in_process:.2f} s for one session "
                "in process (same run); measured as b9_daemon_sessions_per_hour says."
            ),
            details={"in_process": baseline},
            **common,
        ),
        "b9_daemon_history_hours": figure(
            f"Whole minute flat-file history ({history:,} sessions to {end}) through the "
            "daemon at the B9 pace: hours",
            value=hours,
            unit="h",
            baseline=in_process_hours,
            baseline_label="the same sessions one after another at the in-process ingest's pace",
            ratio=ratio(hours, in_process_hours),
            how=(
                f"{history:,} sessions in runs back to back at B9's pace to the last run's end "
                f"({outcome['completed_wall_seconds']:.1f} s for {n} sessions, checks "
                f"included), the daemon's {outcome['first_run_after_seconds']:.0f} s pick-up "
                f"once. {HISTORY_NOTE}"
            ),
            details={"history_sessions": history, "last_session": end.isoformat()},
            **common,
        ),
    }


def _seconds(runs: list[dict[str, Any]], field: str) -> str:
    return "/".join(f"{r[field]:.1f}" for r in runs)

"""Celery workers on one machine that share nothing but PostgreSQL (the Dagster instance and
the rate limiter), Redis (the broker), an S3 lake (moto) and the sandbox: each worker has its
own working, home, temp and Dagster directories, so no SQLite file or local path is shared.
Used by test_celery_workers.py and bench/b7_workers.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

REPO = Path(__file__).resolve().parents[2]
LAKE_BUCKET = "lake"
# Runs of one backfill in flight at once: deploy/dagster.yaml's limit on the dagster/backfill tag.
BACKFILL_RUNS = 4
NOOP_COMPUTE_LOGS = """
# Step output stays in the event log: a worker must not write into another's directories.
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
"""


def dagster_home(path: Path) -> Path:
    """A Dagster home with deploy/dagster.yaml (PostgreSQL from DAGSTER_PG_*), no compute logs."""
    path.mkdir(parents=True, exist_ok=True)
    text = (REPO / "deploy" / "dagster.yaml").read_text()
    (path / "dagster.yaml").write_text(text + NOOP_COMPUTE_LOGS)
    return path


def pipeline_env(
    *,
    postgres: Mapping[str, str],
    broker_url: str,
    sandbox_env: Mapping[str, str],
    lake_endpoint: str,
    s3_keys: Mapping[str, str],
    rate_limit: int,
    window_seconds: int,
) -> dict[str, str]:
    """The environment every process of the cluster shares (nothing in it is a local path)."""
    return {
        **sandbox_env,
        **postgres,
        "POLYGON_RATE_LIMIT_PER_MINUTE": str(rate_limit),
        "POLYGON_RATE_LIMIT_WINDOW_SECONDS": str(window_seconds),  # whole seconds
        "FINANCE_PIPELINE_RATE_LIMIT_STORE": "auto",  # the instance is on PostgreSQL
        "FINANCE_PIPELINE_EXECUTOR": "celery",
        "FINANCE_PIPELINE_CELERY_BROKER_URL": broker_url,
        "FINANCE_PIPELINE_LAKE": f"s3://{LAKE_BUCKET}/market",
        "FINANCE_PIPELINE_LAKE_ENDPOINT_URL": lake_endpoint,
        "AWS_ACCESS_KEY_ID": s3_keys["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": s3_keys["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": s3_keys["region_name"],
    }


def _own_dirs(base: Path) -> dict[str, str]:
    for name in ("home", "tmp"):
        (base / name).mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(base / "home"),
        "TMPDIR": str(base / "tmp"),
        "DAGSTER_HOME": str(dagster_home(base / "dagster_home")),
    }


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without pipeline or Dagster variables, plus `env`."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POLYGON_", "FLATFILES_", "FINANCE_PIPELINE_", "DAGSTER_", "AWS_"))
    }
    return {**keep, **env}


def broker_app(broker_url: str) -> Any:
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    return make_app(CeleryExecutor.for_cli(broker=broker_url, backend=broker_url).app_args())


@dataclass(frozen=True)
class Workers:
    names: list[str]
    pids: list[int]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) each worker process has used so far; a solo-pool
        worker runs its steps in that process (Linux: /proc/PID/stat)."""
        tick = os.sysconf("SC_CLK_TCK")
        used = {}
        for name, pid in zip(self.names, self.pids, strict=True):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return used


@contextlib.contextmanager
def celery_workers(
    count: int, env: Mapping[str, str], base: Path, *, one_core_each: bool = False
) -> Iterator[Workers]:
    """`count` Celery workers (solo pool: one step at a time each); yields them once every one
    answers a ping. `one_core_each` pins worker i to core i (modulo the machine's cores), as
    pods of one CPU each would run them."""
    names = [f"w{i}@finance-pipeline" for i in range(1, count + 1)]
    processes = []
    try:
        for core, name in enumerate(names):
            own = base / name.split("@")[0]
            own.mkdir(parents=True)
            command = ["taskset", "-c", str(core % (os.cpu_count() or 1))] if one_core_each else []
            command += [sys.executable, "-m", "celery", "-A", "finance_pipeline.celery_app"]
            command += ["worker", "--pool", "solo", "-n", name, "--loglevel", "WARNING"]
            command += ["--without-gossip", "--without-mingle", "--prefetch-multiplier", "1"]
            log = (own / "worker.log").open("w")
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=own,
                    env=clean_env({**env, **_own_dirs(own)}),
                    stdout=log,
                    stderr=log,
                )
            )
        app = broker_app(env["FINANCE_PIPELINE_CELERY_BROKER_URL"])
        deadline = time.monotonic() + 180
        answered: set[str] = set()
        while answered != set(names):
            dead = [p.args for p in processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"celery workers not ready ({sorted(answered)} answered)")
            for reply in app.control.ping(timeout=1.0):
                answered.update(reply)
        yield Workers(names, [p.pid for p in processes])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@dataclass(frozen=True)
class Run:
    run_id: str
    success: bool
    sessions: list[str]


@dataclass(frozen=True)
class Backfill:
    runs: list[Run]
    wall_seconds: float  # from the first run's submission to the last run's end
    output: str

    def failed(self) -> list[str]:
        return [s for run in self.runs if not run.success for s in run.sessions]


def run_backfill(
    env: Mapping[str, str],
    base: Path,
    job: str,
    asset: str,
    sessions: Sequence[str],
    *,
    pool_slots: int,
    runs_at_once: int = BACKFILL_RUNS,
    sessions_per_run: int = 0,
    timeout: float = 300,
) -> Backfill:
    """The sessions cut into runs as a backfill cuts them (`sessions_per_run`, 0: the asset's
    backfill policy), `runs_at_once` in flight (the coordinator), against the running workers;
    `pool_slots` steps may call Polygon at once (the `polygon_api` pool)."""
    own = _own_dirs(base / "coordinator")
    command = [sys.executable, "-m", "finance_pipeline_tests.distributed.coordinator"]
    command += [str(runs_at_once), str(pool_slots), str(sessions_per_run), job, asset]
    env = clean_env({**env, **own, "PYTHONPATH": str(REPO)})
    began = time.monotonic()
    done = subprocess.run(
        [*command, *sessions],
        cwd=own["HOME"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.monotonic() - began
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"runs"')]
    if not lines:
        raise RuntimeError(f"coordinator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    runs = [Run(*outcome) for outcome in json.loads(lines[-1])["runs"].values()]
    return Backfill(runs=runs, wall_seconds=wall, output=done.stderr)


@dataclass(frozen=True)
class Step:
    run_id: str
    worker: str
    started: float  # wall-clock seconds (event timestamps)
    finished: float
    succeeded: bool
    limiter_wait: float = 0.0  # seconds the step was held for a limiter slot


def steps_of(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> list[Step]:
    """Each run's step: the worker that ran it (Celery's engine event), its start and end, and
    how long it was held for a limiter slot: its sessions' calls go out together, so that is
    the longest of their materializations' `rate_limit_wait_seconds`."""
    found = []
    for run_id in run_ids:
        worker, started, finished, succeeded, waited = "", 0.0, 0.0, False, 0.0
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.is_engine_event and event.engine_event_data is not None:
                shown = event.engine_event_data.metadata.get("Celery worker")
                worker = str(getattr(shown, "value", worker or "")) if shown else worker
            elif event.is_step_start:
                started = entry.timestamp
            elif event.is_step_success or event.is_step_failure:
                finished, succeeded = entry.timestamp, event.is_step_success
            elif event.is_step_materialization:
                wait = event.step_materialization_data.materialization.metadata.get(
                    "rate_limit_wait_seconds"
                )
                waited = max(waited, float(getattr(wait, "value", 0.0) or 0.0))
        found.append(Step(run_id, worker, started, finished, succeeded, waited))
    return found

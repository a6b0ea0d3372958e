"""Acceptance: three Celery workers that share only PostgreSQL (instance + rate limiter), Redis,
an S3 lake and the sandbox run one backfill of K grouped-daily sessions under a plan of L
requests per window: at most L requests in any window as the sandbox counts them, no 429,
every partition stored exactly once, and every worker took part. The sessions are cut into
runs as a backfill cuts them (the asset's backfill policy: SESSIONS_PER_RUN per run).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from finance_pipeline.assets.grouped_daily import SESSIONS_PER_RUN
from finance_pipeline.calendar import sessions_between
from finance_pipeline.registry import GROUPED_DAILY_BARS
from finance_pipeline_tests.clients.test_rate_limit import max_in_any_window
from finance_pipeline_tests.distributed.cluster import (
    LAKE_BUCKET,
    celery_workers,
    dagster_home,
    pipeline_env,
    run_backfill,
    steps_of,
)
from finance_pipeline_tests.moto_s3 import MOTO_KEYS, moto_s3

K, LIMIT, WINDOW, WORKERS = 12, 2, 3, 3


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_workers_hold_the_plan_limit_and_store_each_session_once(
    postgres, redis_url, fresh_sandbox, tmp_path, monkeypatch
):
    sb = fresh_sandbox(tickers=40, rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW)
    sessions = [d.isoformat() for d in sessions_between(dt.date(2025, 1, 2), dt.date(2025, 1, 31))]
    sessions = sessions[:K]
    with moto_s3() as (endpoint, s3):
        s3.create_bucket(Bucket=LAKE_BUCKET)
        env = pipeline_env(
            postgres=postgres,
            broker_url=redis_url,
            sandbox_env=sb.env(),
            lake_endpoint=endpoint,
            s3_keys=MOTO_KEYS,
            rate_limit=LIMIT,
            window_seconds=WINDOW,
        )
        with celery_workers(WORKERS, env, tmp_path) as workers:
            sb.reset_counters()
            backfill = run_backfill(
                env, tmp_path, "daily_sources_job", GROUPED_DAILY_BARS, sessions, pool_slots=K
            )
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=LAKE_BUCKET).get("Contents", [])]

    assert not backfill.failed(), f"runs failed for {backfill.failed()}:\n{backfill.output[-4000:]}"
    blocks = [sessions[i : i + SESSIONS_PER_RUN] for i in range(0, K, SESSIONS_PER_RUN)]
    assert sorted(run.sessions for run in backfill.runs) == blocks  # at least one run a worker
    assert len(blocks) >= WORKERS
    counters = sb.counters
    assert counters.rest_total == K
    assert counters.rest_statuses == {200: K}  # 0 429s
    assert max_in_any_window([r.monotonic for r in counters.request_log], WINDOW) <= LIMIT

    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(dagster_home(tmp_path / "reader"))) as instance:
        records = instance.fetch_materializations(dg.AssetKey(GROUPED_DAILY_BARS), limit=1000)
        steps = steps_of(instance, [run.run_id for run in backfill.runs])
    assert sorted(r.partition_key for r in records.records) == sessions  # each exactly once
    assert sorted(k for k in keys if k.startswith("market/grouped_daily_bars/")) == [
        f"market/grouped_daily_bars/session={s}/part-0.parquet" for s in sessions
    ]
    assert {step.worker for step in steps} == set(workers.names)  # every worker ran steps
    assert all(step.succeeded for step in steps)
    assert sum(step.limiter_wait for step in steps) > 0  # the limit bound: the workers contended
    assert not [p for p in tmp_path.rglob("*") if p.suffix in {".sqlite", ".db"}]

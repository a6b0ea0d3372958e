"""B4: a year of day aggs through Dagster vs the same conversion in a plain loop.

- dagster: the real `flat_file_day_aggs` asset materialized on a real (on-disk, SQLite)
  Dagster instance as range runs of at most its backfill policy's `max_partitions_per_run`
  sessions (the runs a backfill of that policy launches), with the real FlatFilesResource
  (dagster-aws S3Resource) and ParquetIOManager;
- dagster on PostgreSQL: the same on deploy/dagster.yaml's storage (a real PostgreSQL server
  with fsync on) with DAGSTER_EVENT_BATCH_SIZE set, as the README recommends for backfills;
  also measured without the batching, and the SQLite run cut into POLICY_RUNS runs (is one
  run per year the best policy?);
- raw loop: per session, the same product functions without Dagster: FlatFilesClient.download
  -> flat_file_table -> publish_sessions (write-audit-publish, as the IO manager stores it).
All run in fresh worker processes against the same sandbox files; the ratio is dagster / raw.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    SCRATCH,
    Sizes,
    Target,
    figure,
    flat_file_access,
    flat_files_client,
    in_worker,
    measured,
    profiled,
    ratio,
    year_sessions,
)

DATASET = "day_aggs_v1"
ASSET = "flat_file_day_aggs"
# What the README recommends for backfills on PostgreSQL: a range run's materializations are
# stored in one INSERT instead of one connection and statement each (Dagster's opt-in).
EVENT_BATCH = {"DAGSTER_EVENT_BATCH_SIZE": "1000"}
POLICY_RUNS = 4  # the policy check: the same sessions as this many range runs


def chunks(sessions: list[dt.date], size: int | None) -> list[list[dt.date]]:
    """Sessions cut into range runs of at most `size` (None: one run)."""
    size = size or len(sessions)
    return [sessions[i : i + size] for i in range(0, len(sessions), size)]


@contextmanager
def _instance(home: Path, postgres: dict[str, str] | None) -> Iterator[Any]:
    """SQLite under `home` (Dagster's default), or deploy/dagster.yaml's PostgreSQL storage
    with `postgres` (DAGSTER_PG_* and Dagster's own variables) in this worker's environment."""
    import dagster as dg

    home.mkdir()
    if postgres is None:
        with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
            yield instance
        return
    os.environ.update(postgres)
    (home / "dagster.yaml").write_text((REPO / "deploy" / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def backfill_dagster(
    access: dict[str, str],
    sessions: list[dt.date],
    work: str,
    per_run: int | None = None,
    postgres: dict[str, str] | None = None,
) -> dict:
    """Runs in its own worker process: its stderr (Dagster's console log, one line per event)
    goes to <work>/dagster-console.log so the suite's output stays readable. `per_run`
    overrides the asset's backfill policy; `postgres` puts the instance on PostgreSQL."""
    import dagster as dg

    from finance_pipeline.assets.flat_file_aggs import flat_file_day_aggs
    from finance_pipeline.calendar import partition_key

    resources = _resources(access, work)
    policy = flat_file_day_aggs.backfill_policy
    if per_run is None:
        per_run = policy.max_partitions_per_run if policy is not None else 1
    runs = chunks(sessions, per_run)
    _stderr_to(Path(work) / "dagster-console.log")
    with _instance(Path(work) / "dagster_home", postgres) as instance:
        with measured() as measurement:
            for run_sessions in runs:
                result = dg.materialize(
                    [flat_file_day_aggs],
                    resources=resources,
                    instance=instance,
                    tags={
                        "dagster/asset_partition_range_start": partition_key(run_sessions[0]),
                        "dagster/asset_partition_range_end": partition_key(run_sessions[-1]),
                    },
                )
                if not result.success:
                    raise RuntimeError(f"the Dagster run for {run_sessions[0]}.. failed")
        stored = instance.get_materialized_partitions(dg.AssetKey(ASSET))
    return {
        "storage": "postgres" if postgres else "sqlite",
        "runs": len(runs),
        "max_partitions_per_run": per_run,
        "partitions_materialized": len(stored),
        **measurement.as_dict(),
    }


def _resources(access: dict[str, str], work: str) -> dict[str, Any]:
    from dagster_aws.s3 import S3Resource

    from finance_pipeline.resources import FlatFilesResource, lake_resources

    return {
        "flat_files": FlatFilesResource(
            s3=S3Resource(
                endpoint_url=access["endpoint_url"],
                aws_access_key_id=access["access_key_id"],
                aws_secret_access_key=access["secret_access_key"],
                region_name="us-east-1",
            ),
            bucket=access["bucket"],
        ),
        **lake_resources(str(Path(work) / "lake")),
    }


def _stderr_to(path: Path) -> None:
    import sys

    sys.stderr.flush()
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)


def backfill_raw(access: dict[str, str], sessions: list[dt.date], work: str) -> dict:
    from finance_pipeline.assets.flat_file_aggs import flat_file_table
    from finance_pipeline.lake import Lake
    from finance_pipeline.lake.publish import publish_sessions

    client = flat_files_client(access)
    lake = Lake(str(Path(work) / "lake"))
    rows = 0
    with measured() as measurement:
        for session in sessions:
            table = flat_file_table(client.download(DATASET, session), ASSET)
            rows += publish_sessions(lake, ASSET, table, [session])[0].rows
    return {"rows": rows, **measurement.as_dict()}


def _variants(sessions: list[dt.date]) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """name -> (worker function, its arguments after (access, sessions, work)); a PostgreSQL
    variant's environment gets the server's DAGSTER_PG_* in `_measure_all`."""
    several = math.ceil(len(sessions) / POLICY_RUNS)
    return {
        "raw": (backfill_raw, ()),
        "dagster": (backfill_dagster, ()),
        "dagster_policy_check": (backfill_dagster, (several, None)),
        "dagster_postgres": (backfill_dagster, (None, EVENT_BATCH)),
        "dagster_postgres_unbatched": (backfill_dagster, (None, {})),
    }


def _measure_all(access: dict[str, str], sessions: list[dt.date]) -> dict[str, dict]:
    from finance_pipeline_tests.servers import postgres_server

    results = {}
    with postgres_server(durable=True) as pg:
        for name, (function, extra) in _variants(sessions).items():
            if len(extra) == 2 and extra[1] is not None:
                extra = (extra[0], {**pg, **extra[1]})
            with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
                args = (access, sessions, work, *extra)
                results[name] = in_worker(function, *args, what=f"b4 {name}")
    for name, result in results.items():
        materialized = result.get("partitions_materialized", len(sessions))
        if materialized != len(sessions):
            raise RuntimeError(
                f"B4 {name}: the instance records {materialized} materialized partitions, "
                f"expected {len(sessions)}"
            )
    return results


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    sessions = year_sessions(sizes.b4_sessions)
    access = flat_file_access(sandbox)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    results = _measure_all(access, sessions)
    profile: list[str] = []
    profile_sessions = sessions[: min(60, len(sessions))]
    if sizes.profile:
        with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
            profile = in_worker(
                profiled,
                backfill_dagster,
                access,
                profile_sessions,
                work,
                what="b4 dagster under cProfile",
            )
    raw = results["raw"]
    common = {
        "sessions": len(sessions),
        "market_tickers": sizes.market_tickers,
        "raw": raw,
        "raw_cpu_seconds_per_session": raw["cpu_seconds"] / len(sessions),
    }
    sqlite_details = {
        **common,
        "dagster": results["dagster"],
        "dagster_cpu_seconds_per_session": results["dagster"]["cpu_seconds"] / len(sessions),
        "policy_check": _policy_check(results),
        "dagster_profile_sessions": len(profile_sessions) if profile else 0,
        "dagster_profile_top_own_time": profile,
    }
    postgres_details = {
        **common,
        "dagster": results["dagster_postgres"],
        "dagster_unbatched": results["dagster_postgres_unbatched"],
        "unbatched_ratio": _wall_ratio(results["dagster_postgres_unbatched"], raw),
        "sqlite_ratio": _wall_ratio(results["dagster"], raw),
    }
    return {
        "b4_dagster_vs_raw_loop": _figure(results["dagster"], raw, sqlite_details, ""),
        "b4_dagster_vs_raw_loop_postgres": _figure(
            results["dagster_postgres"], raw, postgres_details, " on PostgreSQL"
        ),
    }


def _wall_ratio(dagster: dict, raw: dict) -> float | None:
    return ratio(dagster["wall_seconds"], raw["wall_seconds"])


def _policy_check(results: dict[str, dict]) -> dict[str, Any]:
    """One range run per year against POLICY_RUNS runs of the same sessions (same instance
    kind, fresh worker each): the policy's per-run cost."""
    one, several = results["dagster"], results["dagster_policy_check"]
    return {
        "one_run": {"runs": one["runs"], "wall_seconds": one["wall_seconds"]},
        "several_runs": {"runs": several["runs"], "wall_seconds": several["wall_seconds"]},
        "several_over_one_wall": ratio(several["wall_seconds"], one["wall_seconds"]),
        "several_over_one_cpu": ratio(several["cpu_seconds"], one["cpu_seconds"]),
    }


def _figure(dagster: dict, raw: dict, details: dict[str, Any], where: str) -> dict[str, Any]:
    storage = (
        "PostgreSQL event/run storage (deploy/dagster.yaml, a local server with fsync on, "
        f"DAGSTER_EVENT_BATCH_SIZE={EVENT_BATCH['DAGSTER_EVENT_BATCH_SIZE']})"
        if dagster["storage"] == "postgres"
        else "SQLite storage (Dagster's default)"
    )
    return figure(
        f"B4 {details['sessions']} sessions of day aggs: through Dagster{where} vs a plain loop",
        value=dagster["wall_seconds"],
        unit="s",
        baseline=raw["wall_seconds"],
        baseline_label="download + parse + write-audit-publish loop, no Dagster",
        ratio=_wall_ratio(dagster, raw),
        target=Target("<=", 1.2, text="<= 1.2x the raw loop"),
        how=(
            f"flat_file_day_aggs materialized on a real on-disk Dagster instance with {storage} "
            f"as {dagster['runs']} range run(s) of <= {dagster['max_partitions_per_run']} "
            f"sessions (its multi_run backfill policy; {dagster['partitions_materialized']} "
            f"partitions recorded), {dagster['wall_seconds']:.1f} s wall / "
            f"{dagster['cpu_seconds']:.1f} s CPU; the raw loop wrote {raw['rows']:,} rows "
            f"in {raw['wall_seconds']:.1f} s wall / {raw['cpu_seconds']:.1f} s CPU. "
            "Fresh worker process each, same sandbox files."
        ),
        details=details,
    )

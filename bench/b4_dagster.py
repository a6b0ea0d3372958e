"""B4: a year of day aggs through Dagster vs the same conversion in a plain loop.

- dagster: the real `flat_file_day_aggs` asset materialized on a real (on-disk, SQLite)
  Dagster instance as range runs of at most its backfill policy's `max_partitions_per_run`
  sessions (the runs a backfill of that policy launches), with the real FlatFilesResource
  (dagster-aws S3Resource) and ParquetIOManager;
- raw loop: per session, the same product functions without Dagster: FlatFilesClient.download
  -> flat_file_table -> publish_sessions (write-audit-publish, as the IO manager stores it).
Both run in fresh worker processes against the same sandbox files; the ratio is dagster / raw.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
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


def chunks(sessions: list[dt.date], size: int | None) -> list[list[dt.date]]:
    """Sessions cut into range runs of at most `size` (None: one run)."""
    size = size or len(sessions)
    return [sessions[i : i + size] for i in range(0, len(sessions), size)]


def backfill_dagster(access: dict[str, str], sessions: list[dt.date], work: str) -> dict:
    """Runs in its own worker process: its stderr (Dagster's console log, one line per event)
    goes to <work>/dagster-console.log so the suite's output stays readable."""
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from finance_pipeline.assets.flat_file_aggs import flat_file_day_aggs
    from finance_pipeline.calendar import partition_key
    from finance_pipeline.resources import FlatFilesResource, lake_resources

    resources = {
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
    policy = flat_file_day_aggs.backfill_policy
    per_run = policy.max_partitions_per_run if policy is not None else 1
    runs = chunks(sessions, per_run)
    home = Path(work) / "dagster_home"
    home.mkdir()
    _stderr_to(Path(work) / "dagster-console.log")
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
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
        "runs": len(runs),
        "max_partitions_per_run": per_run,
        "partitions_materialized": len(stored),
        **measurement.as_dict(),
    }


def _stderr_to(path: Path) -> None:
    import os
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


def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    sessions = year_sessions(sizes.b4_sessions)
    access = flat_file_access(sandbox)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, function in (("raw", backfill_raw), ("dagster", backfill_dagster)):
        with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
            results[name] = in_worker(function, access, sessions, work, what=f"b4 {name}")
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
    dagster, raw = results["dagster"], results["raw"]
    if dagster["partitions_materialized"] != len(sessions):
        raise RuntimeError(
            f"B4: the instance records {dagster['partitions_materialized']} materialized "
            f"partitions, expected {len(sessions)}"
        )
    return {
        "b4_dagster_vs_raw_loop": figure(
            f"B4 {len(sessions)} sessions of day aggs: through Dagster vs a plain loop",
            value=dagster["wall_seconds"],
            unit="s",
            baseline=raw["wall_seconds"],
            baseline_label="download + parse + write-audit-publish loop, no Dagster",
            ratio=ratio(dagster["wall_seconds"], raw["wall_seconds"]),
            target=Target("<=", 1.2, text="<= 1.2x the raw loop"),
            how=(
                f"flat_file_day_aggs materialized on a real on-disk Dagster instance as "
                f"{dagster['runs']} range run(s) of <= {dagster['max_partitions_per_run']} "
                f"sessions (its multi_run backfill policy; {dagster['partitions_materialized']} "
                f"partitions recorded), {dagster['wall_seconds']:.1f} s wall / "
                f"{dagster['cpu_seconds']:.1f} s CPU; the raw loop wrote {raw['rows']:,} rows "
                f"in {raw['wall_seconds']:.1f} s wall / {raw['cpu_seconds']:.1f} s CPU. "
                "Fresh worker process each, same sandbox files."
            ),
            details={
                "sessions": len(sessions),
                "market_tickers": sizes.market_tickers,
                "dagster": dagster,
                "raw": raw,
                "dagster_cpu_seconds_per_session": dagster["cpu_seconds"] / len(sessions),
                "raw_cpu_seconds_per_session": raw["cpu_seconds"] / len(sessions),
                "dagster_profile_sessions": len(profile_sessions) if profile else 0,
                "dagster_profile_top_own_time": profile,
            },
        )
    }

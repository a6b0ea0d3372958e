"""Helpers for the asset tests: resources pointed at a sandbox, runs, and reading results."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource

from finance_pipeline.resources import lake_resources
from finance_pipeline.resources.flat_files_resource import FlatFilesResource
from finance_pipeline.resources.polygon import PolygonResource
from finance_pipeline.sandbox import Sandbox

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def polygon_resource(
    sb: Sandbox, *, api_key: str | None = None, **settings: Any
) -> PolygonResource:
    """A PolygonResource on `sb`: no client-side limit and quick retries unless overridden;
    `api_key` may be a dg.EnvVar."""
    defaults = {"rate_limit_per_minute": 0, "max_retries": 2, "backoff_seconds": 0.01}
    return PolygonResource(
        api_key=api_key or sb.api_key, base_url=sb.rest_url, **{**defaults, **settings}
    )


def flat_files_resource(sb: Sandbox, *, secret: str | None = None) -> FlatFilesResource:
    """A FlatFilesResource on `sb`'s S3; `secret` may be a dg.EnvVar."""
    return FlatFilesResource(
        s3=S3Resource(
            endpoint_url=sb.s3_endpoint_url,
            aws_access_key_id=sb.s3_access_key_id,
            aws_secret_access_key=secret or sb.s3_secret_access_key,
            region_name="us-east-1",
        ),
        bucket=sb.bucket,
    )


def sandbox_resources(
    sb: Sandbox, lake_root: Path, *, api_key: str | None = None, max_retries: int = 2
) -> dict[str, Any]:
    """The three resources the source assets need, pointed at `sb` and a local lake."""
    return {
        "polygon": polygon_resource(sb, api_key=api_key, max_retries=max_retries),
        "flat_files": flat_files_resource(sb),
        **lake_resources(str(lake_root)),
    }


def run(
    assets: list,
    resources: dict[str, Any],
    *,
    session: dt.date | None = None,
    sessions: tuple[dt.date, dt.date] | None = None,
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialize `assets` for one session or a (first, last) range in one run."""
    tags = None
    if sessions is not None:
        tags = {RANGE_START: sessions[0].isoformat(), RANGE_END: sessions[1].isoformat()}
    return dg.materialize(
        assets,
        resources=resources,
        partition_key=session.isoformat() if session is not None else None,
        tags=tags,
        instance=instance,
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def partition_file(lake_root: Path, dataset: str, session: dt.date) -> Path:
    return lake_root / dataset / f"session={session.isoformat()}" / "part-0.parquet"


def read_partition(lake_root: Path, dataset: str, session: dt.date) -> pa.Table:
    return pq.read_table(partition_file(lake_root, dataset, session))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_sessions(lake_root: Path, dataset: str) -> list[str]:
    return sorted(
        p.parent.name.removeprefix("session=")
        for p in (lake_root / dataset).glob("session=*/part-0.parquet")
    )


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The raw values of the (last) materialization metadata of `asset` in the run."""
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    ]
    assert events, f"no materialization of {asset}"
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def session_metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict[str, Any]]:
    """Each partition's own materialization metadata (raw values) of `asset` in the run."""
    return {
        e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(asset) and e.partition is not None
    }


def run_totals_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The totals a range run records once (an unpartitioned observation of `asset`)."""
    events = [
        e.asset_observation_data.asset_observation
        for e in result.all_events
        if e.is_asset_observation and e.asset_key == dg.AssetKey(asset)
    ]
    totals = [o for o in events if o.partition is None]
    assert len(totals) == 1, f"expected one run-totals observation of {asset}, got {len(totals)}"
    return {k: v.value for k, v in totals[0].metadata.items()}


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every message of the run's step failures: the error chain and any Failure description."""
    parts: list[str] = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None:
            parts.append(data.user_failure_data.description or "")
        error = data.error
        while error is not None:
            parts.append(error.message)
            error = error.cause
    return "\n".join(parts)

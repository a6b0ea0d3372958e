"""Helpers of the fault suite: resources on a sandbox, runs, partition digests, failure text."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from finance_pipeline.lake.quarantine import QUARANTINE_DIR
from finance_pipeline.resources import lake_resources
from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.assets.support import flat_files_resource, polygon_resource

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PART = "part-0.parquet"
REPO = Path(__file__).resolve().parents[2]


def resources(
    sb: Sandbox,
    lake_root: Path,
    *,
    limiter_dir: Path,
    max_retries: int = 2,
    backoff_seconds: float = 0.02,
    read_timeout_seconds: float = 30.0,
    rate_limit: int = 0,
    window_seconds: float = 60.0,
) -> dict[str, Any]:
    """The source assets' resources on `sb`, secrets as EnvVars (the `sb` fixture sets them)."""
    return {
        "polygon": polygon_resource(
            sb,
            api_key=dg.EnvVar("POLYGON_API_KEY"),
            rate_limit_per_minute=rate_limit,
            rate_limit_window_seconds=window_seconds,
            read_timeout_seconds=read_timeout_seconds,
            max_retries=max_retries,
            backoff_seconds=backoff_seconds,
            limiter_dir=str(limiter_dir),
        ),
        "flat_files": flat_files_resource(sb, secret=dg.EnvVar("FLATFILES_SECRET_ACCESS_KEY")),
        **lake_resources(str(lake_root)),
    }


def materialize(
    assets: list,
    resources: Mapping[str, Any],
    instance: dg.DagsterInstance,
    *,
    session: dt.date | None = None,
    sessions: tuple[dt.date, dt.date] | None = None,
    run_config: dict | None = None,
    selection: Any = None,
) -> dg.ExecuteInProcessResult:
    """One run on the real instance, for one session or a (first, last) range; never raises."""
    tags = None
    if sessions is not None:
        tags = {RANGE_START: sessions[0].isoformat(), RANGE_END: sessions[1].isoformat()}
    return dg.materialize(
        assets,
        resources=dict(resources),
        instance=instance,
        partition_key=session.isoformat() if session is not None else None,
        tags=tags,
        run_config=run_config,
        selection=selection,
        raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure of the run: Failure descriptions and the whole error chain."""
    parts: list[str] = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None:
            parts.append(data.user_failure_data.description or "")
        error = data.error
        while error is not None:
            parts.append(f"{error.cls_name}: {error.message}")
            error = error.cause
    return "\n".join(parts)


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


# ----------------------------------------------------------------------------- partitions


def part_file(lake_root: Path, dataset: str, session: dt.date) -> Path:
    return lake_root / dataset / f"session={session.isoformat()}" / PART


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(lake_root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every visible partition file of the lake (quarantined
    candidates are not partitions: readers never see them)."""
    if not lake_root.exists():
        return {}
    quarantine = lake_root / QUARANTINE_DIR
    return {
        str(path.relative_to(lake_root)): file_digest(path)
        for path in sorted(lake_root.rglob(PART))
        if quarantine not in path.parents
    }


def readable(path: Path) -> bool:
    try:
        pq.read_table(path)
    except Exception:
        return False
    return True


@dataclass(frozen=True)
class Damage:
    """Partitions compared between two snapshots of a lake."""

    checked: int
    lost: list[str]
    corrupted: list[str]


def damage(
    lake_root: Path,
    before: Mapping[str, str],
    after: Mapping[str, str],
    may_change: Iterable[str] = (),
) -> Damage:
    """Lost: stored before, gone after. Corrupted: changed (or appeared) where no change was
    allowed, or not readable as Parquet. `may_change`: relative paths allowed to be rewritten
    (they must still read)."""
    allowed = set(may_change)
    lost = sorted(set(before) - set(after))
    corrupted = []
    for name, sha in after.items():
        changed = before.get(name) != sha
        if (changed and name not in allowed) or (changed and not readable(lake_root / name)):
            corrupted.append(name)
    return Damage(len(set(before) | set(after)), lost, corrupted)


# ----------------------------------------------------------------------------- processes


def poll(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.01) -> Any:
    """Wait until `condition()` is truthy (returns it), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python: the repo importable, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def spawn_python(module: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """`python -m module args` with pipes on stdin/stdout/stderr (text, line-buffered)."""
    return subprocess.Popen(
        [sys.executable, "-u", "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=python_env(env),
        cwd=str(REPO),
    )

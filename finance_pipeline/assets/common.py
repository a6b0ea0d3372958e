"""What every source asset shares: the run's sessions, day-bar timestamps and run metrics."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

from finance_pipeline import schemas
from finance_pipeline.calendar import NEW_YORK, session_from_partition_key
from finance_pipeline.clients import FlatFilesClient, PolygonClient
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.resources.flat_files_resource import FlatFilesResource
from finance_pipeline.resources.parquet_io_manager import table_schema
from finance_pipeline.resources.polygon import PolygonResource

GROUP = "sources"
IO_MANAGER_KEY = "parquet_io_manager"
# Caps concurrent steps that call Polygon across all runs; the resource still throttles.
POLYGON_POOL = "polygon_api"
# Who answers for the data, shown on every asset in the UI.
OWNERS = ["team:market-data"]


def asset_tags(layer: str, vendor: str | None = None) -> dict[str, str]:
    """Tags the UI filters on: the layer (raw/curated) and, for raw data, how it is fetched."""
    return {"layer": layer, **({"fetched_via": vendor} if vendor else {})}


def source_asset(
    *, name: str, kinds: set[str], **asset_args: Any
) -> Callable[..., dg.AssetsDefinition]:
    """`@dg.asset` for a raw source: group "sources", session partitions, the Parquet IO
    manager, owners, tags, its column schema, and the `polygon_api` pool when it calls
    Polygon."""
    return dg.asset(
        name=name,
        metadata={"dagster/column_schema": table_schema(schemas.DATASETS[name])},
        group_name=GROUP,
        owners=OWNERS,
        tags=asset_tags("raw", "rest_api" if "polygon" in kinds else "s3_flat_files"),
        kinds={*kinds, "parquet"},
        partitions_def=TRADING_SESSIONS,
        io_manager_key=IO_MANAGER_KEY,
        pool=POLYGON_POOL if "polygon" in kinds else None,
        **asset_args,
    )


def run_sessions(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The sessions this run materializes: one, or all of a range run, in order."""
    return [session_from_partition_key(key) for key in context.partition_keys]


def record_figures(
    context: dg.AssetExecutionContext,
    sessions: Mapping[str, Mapping[str, Any]],
    run_totals: Mapping[str, Any],
) -> None:
    """Each session's own figures on its own materialization; the run's totals once per run.

    Dagster copies output metadata onto every partition of a range run (a 21-session run showed
    its total on each session), so figures go per partition through
    `add_asset_metadata(partition_key=...)`. A one-session run's totals are that session's; a
    range run's totals become one unpartitioned AssetObservation of the asset, never a
    session's figure. `sessions` is keyed by partition key.
    """
    if len(sessions) == 1:
        ((key, figures),) = sessions.items()
        context.add_asset_metadata({**run_totals, **figures}, partition_key=key)
        return
    for key, figures in sessions.items():
        context.add_asset_metadata(dict(figures), partition_key=key)
    keys = sorted(sessions)
    context.log_event(
        dg.AssetObservation(
            asset_key=context.asset_key,
            description=f"Run totals over {len(keys)} sessions {keys[0]}..{keys[-1]}",
            metadata={**run_totals, "run_sessions": len(keys)},
        )
    )


def run_session(context: dg.AssetExecutionContext) -> dt.date:
    """The one session of a single-partition run."""
    return session_from_partition_key(context.partition_key)


def new_york_midnight(session: dt.date) -> pd.Timestamp:
    """00:00 New York of `session` as a UTC timestamp: the window start of its day bar."""
    return pd.Timestamp(dt.datetime.combine(session, dt.time(), NEW_YORK)).tz_convert("UTC")


def new_york_dates(epoch: pd.Series, unit: str) -> pd.Series:
    """The New York calendar date of each Unix timestamp in `epoch` (unit "ms" or "ns")."""
    moments = pd.to_datetime(epoch.astype("int64"), unit=unit, utc=True)
    return moments.dt.tz_convert(NEW_YORK).dt.date


def old_path_calls(tickers: int, sessions: int) -> int:
    """What the old per-ticker path spends for the same data: one call per ticker per session."""
    return tickers * sessions


@dataclass
class RunMetrics:
    """Numbers recorded on every materialization (numeric only, so the UI can plot them).

    `bytes` is what was downloaded (also kept as `bytes_downloaded`); the IO manager adds
    `bytes_written`.
    """

    started: float = field(default_factory=time.monotonic)
    api_calls: int = 0
    s3_gets: int = 0
    bytes: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def polygon(self, resource: PolygonResource) -> Iterator[PolygonClient]:
        """A fresh client whose usage (calls, retries, 429s, waits) is added on exit, also
        when the fetch fails."""
        client = resource.get_client()
        before = client.metrics()
        try:
            yield client
        finally:
            self.add_usage({k: v - before.get(k, 0) for k, v in client.metrics().items()})

    def add_usage(self, usage: Mapping[str, float]) -> None:
        """Add a Polygon client's usage (`PolygonClient.metrics()` figures) to the run's."""
        rest = dict(usage)
        self.api_calls += int(rest.pop("api_calls", 0))
        self.bytes += int(rest.pop("bytes", 0))
        for key, value in rest.items():
            self.extra[key] = self.extra.get(key, 0) + value

    @contextmanager
    def flat_files(self, resource: FlatFilesResource) -> Iterator[FlatFilesClient]:
        """A fresh flat-files client whose S3 requests are added on exit."""
        client = resource.get_client()
        gets, total = client.requests.get("get", 0), sum(client.requests.values())
        try:
            yield client
        finally:
            self.s3_gets += client.requests.get("get", 0) - gets
            self.extra["s3_requests"] = sum(client.requests.values()) - total

    def metadata(self, *, rows: int, tickers: int, old_path_calls: int, **extra: object) -> dict:
        return {
            "dagster/row_count": int(rows),
            "api_calls": int(self.api_calls),
            "s3_gets": int(self.s3_gets),
            "bytes": int(self.bytes),
            "bytes_downloaded": int(self.bytes),
            "seconds": round(time.monotonic() - self.started, 3),
            "calls_saved": int(old_path_calls - self.api_calls),
            "tickers": int(tickers),
            **self.extra,
            **extra,
        }

"""Submitting planned targets to a Dagster instance as one partition backfill, as the UI's
"Materialize" does: the daemon (`dagster dev`, or `dagster-daemon`) launches its runs per the
assets' backfill policies. Dagster 1.13 has no public API for an asset backfill with ranges per
asset, so this uses the same internal classes the webserver's GraphQL mutation builds."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.selector import (
    PartitionRangeSelector,
    PartitionsByAssetSelector,
    PartitionsSelector,
)
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from finance_pipeline.runs.specs import contiguous

# A daemon that has not reported for this long is taken as not running.
DAEMON_HEARTBEAT_SECONDS = 120


def submit_backfill(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    targets: Mapping[str, Sequence[dt.date]],
    *,
    title: str,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any] | None = None,
) -> str:
    """Add a backfill of `targets` (asset -> sessions) to `instance`; returns its id."""
    selectors = [
        PartitionsByAssetSelector(
            asset_key=dg.AssetKey(asset),
            partitions=PartitionsSelector(
                ranges=[
                    PartitionRangeSelector(start=block[0].isoformat(), end=block[-1].isoformat())
                    for block in contiguous(days)
                ]
            ),
        )
        for asset, days in targets.items()
    ]
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=backfill_id,
        asset_graph=defs.resolve_asset_graph(),
        backfill_timestamp=time.time(),
        tags=dict(tags),
        dynamic_partitions_store=instance,
        partitions_by_assets=selectors,
        title=title,
        description=None,
        run_config=dict(run_config) if run_config else None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def daemon_is_running(instance: dg.DagsterInstance) -> bool:
    """Whether a Dagster daemon has reported for this instance recently."""
    heartbeats = instance.get_daemon_heartbeats()
    return any(
        time.time() - beat.timestamp < DAEMON_HEARTBEAT_SECONDS for beat in heartbeats.values()
    )

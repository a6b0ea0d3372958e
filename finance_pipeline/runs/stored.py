"""Which partitions are stored: in the lake, and (for the demo) also materialized in the
instance, so a lake copied from elsewhere is not taken for this instance's history. Dagster is
imported only for the latter, so the CLI's `plan` stays free of it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from finance_pipeline.lake import Lake

if TYPE_CHECKING:
    import dagster as dg


def in_lake(lake: Lake, assets: Iterable[str]) -> dict[str, set[dt.date]]:
    """Per asset, the sessions the lake holds."""
    return {asset: set(lake.stored_sessions(asset)) for asset in assets}


def in_lake_and_instance(
    instance: dg.DagsterInstance, lake: Lake, assets: Iterable[str]
) -> dict[str, set[dt.date]]:
    """Per asset, the sessions both in the lake and materialized in the instance."""
    import dagster as dg

    stored = {}
    for asset, days in in_lake(lake, assets).items():
        keys = instance.get_materialized_partitions(dg.AssetKey(asset))
        stored[asset] = {d for d in days if d.isoformat() in keys}
    return stored

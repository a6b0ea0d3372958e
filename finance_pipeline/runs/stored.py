"""Which partitions are stored: in the lake and matching their manifest entries, and (for the
demo) also materialized in the instance, so a lake copied from elsewhere is not taken for this
instance's history. A stored file that fails verification (`Lake.check`) is not "stored": it is
reported by `bad_in_lake`, so a plain re-run fetches it again instead of skipping it. Dagster
is imported only for the instance, so the CLI's `plan` stays free of it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from finance_pipeline.lake import Lake
from finance_pipeline.lake.verify import BadFile

if TYPE_CHECKING:
    import dagster as dg


def lake_state(
    lake: Lake, assets: Iterable[str], sessions: Iterable[dt.date] | None = None
) -> tuple[dict[str, set[dt.date]], dict[str, list[BadFile]]]:
    """(per asset the sessions stored and verified, per asset the bad files), over `sessions`
    (None: every stored session). Each file is read and hashed once."""
    wanted = None if sessions is None else set(sessions)
    good: dict[str, set[dt.date]] = {}
    bad: dict[str, list[BadFile]] = {}
    for asset in assets:
        days = set(lake.stored_sessions(asset)) | set(lake.manifest_sessions(asset))
        good[asset] = set()
        for day in sorted(days if wanted is None else days & wanted):
            problem = lake.check(asset, day)
            if problem is None:
                if lake.exists(asset, day):
                    good[asset].add(day)
            else:
                bad.setdefault(asset, []).append(problem)
    return good, bad


def in_lake(
    lake: Lake, assets: Iterable[str], sessions: Iterable[dt.date] | None = None
) -> dict[str, set[dt.date]]:
    """Per asset, the sessions the lake holds that match their manifest entries."""
    return lake_state(lake, assets, sessions)[0]


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

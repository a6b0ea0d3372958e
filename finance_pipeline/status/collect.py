"""The whole status: coverage from the lake, costs and checks from the instance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from finance_pipeline.lake import Lake, quarantine
from finance_pipeline.status.coverage import lake_coverage
from finance_pipeline.status.instance import asset_costs, check_tally
from finance_pipeline.status.model import Status

if TYPE_CHECKING:
    import dagster as dg


def collect_status(
    lake: Lake,
    instance: dg.DagsterInstance,
    asset_keys: Iterable[dg.AssetKey],
    check_keys: Iterable[dg.AssetCheckKey],
    unpartitioned_checks: Iterable[dg.AssetCheckKey] = (),
) -> Status:
    """Coverage of every lake dataset, costs of every asset, results of every check."""
    costs = [asset_costs(instance, key) for key in sorted(asset_keys)]
    single = set(unpartitioned_checks)
    checks = [
        check_tally(instance, key, partitioned=key not in single)
        for key in sorted(check_keys, key=str)
    ]
    return Status(
        lake.root,
        tuple(lake_coverage(lake)),
        tuple(c for c in costs if c.partitions),
        tuple(c for c in checks if c.passed + c.failed + c.not_run),
        tuple(asdict(q) for q in quarantine.listing(lake.storage)),
    )


def status_of(lake: Lake, instance: dg.DagsterInstance, asset_graph: Any) -> Status:
    """`collect_status` for every asset and check of a code location's asset graph."""
    check_keys = list(asset_graph.asset_check_keys)
    unpartitioned = [k for k in check_keys if asset_graph.get(k).partitions_def is None]
    return collect_status(
        lake, instance, asset_graph.get_all_asset_keys(), check_keys, unpartitioned
    )

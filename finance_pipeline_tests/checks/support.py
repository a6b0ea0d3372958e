"""Helpers for the Dagster-level check tests: runs of assets with their checks, results."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from finance_pipeline.checks.quality import QUALITY_CHECKS
from finance_pipeline.checks.reconciliation import RECONCILIATION_CHECKS

PARTITION = "dagster/partition"
CHECKS_BY_ASSET: dict[str, list[dg.AssetChecksDefinition]] = {}
for _checks in (*RECONCILIATION_CHECKS, *QUALITY_CHECKS):
    for _key in _checks.check_keys:
        CHECKS_BY_ASSET.setdefault(_key.asset_key.to_user_string(), [])
        if _checks not in CHECKS_BY_ASSET[_key.asset_key.to_user_string()]:
            CHECKS_BY_ASSET[_key.asset_key.to_user_string()].append(_checks)


def checks_for(assets: list[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """Every partitioned check (reconciliation and quality) of `assets`."""
    found: list[dg.AssetChecksDefinition] = []
    for asset in assets:
        for checks in CHECKS_BY_ASSET.get(asset.key.to_user_string(), []):
            if checks not in found:
                found.append(checks)
    return found


def run_with_checks(
    assets: list[dg.AssetsDefinition],
    resources: dict[str, Any],
    session: dt.date,
    instance: dg.DagsterInstance,
    *,
    run_config: dict | None = None,
    checks_only: bool = False,
    also_checks_of: list[dg.AssetsDefinition] = (),
) -> dg.ExecuteInProcessResult:
    """Materialize `assets` for `session` with all their checks in one run (with checks_only,
    run only the checks against what is stored). `also_checks_of`: assets whose checks run
    too, against what is stored, without materializing them."""
    checks = checks_for(assets)
    extra = [c for c in checks_for(list(also_checks_of)) if c not in checks]
    key = session.isoformat()
    if checks_only:
        # A checks-only selection has no asset to take the partitions from, so materialize()
        # refuses partition_key; the partition tag is what the run needs.
        selection, partition_key, tags = dg.AssetSelection.checks(*checks), None, {PARTITION: key}
    elif extra:
        selection = dg.AssetSelection.assets(*assets) | dg.AssetSelection.checks(*checks, *extra)
        partition_key, tags = key, None
    else:
        selection, partition_key, tags = None, key, None
    return dg.materialize(
        [*assets, *also_checks_of, *checks, *extra],
        resources=resources,
        partition_key=partition_key,
        tags=tags,
        instance=instance,
        run_config=run_config,
        selection=selection,
        raise_on_error=False,
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], Any]:
    """(asset, check name) -> the check's evaluation in the run."""
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def meta(evaluation: Any) -> dict[str, Any]:
    return {key: value.value for key, value in evaluation.metadata.items()}

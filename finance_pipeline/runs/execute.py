"""Executing planned runs in this process against a Dagster instance (the demo and
`finance-pipeline backfill --in-process`); each run shows in the UI like any other."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from finance_pipeline.automation.jobs import freshness_check_keys
from finance_pipeline.redaction import redact
from finance_pipeline.runs.planner import RunPlan
from finance_pipeline.runs.specs import RunSpec, run_specs

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
UNLIMITED = 1_000_000
_CHECK_FAILED = "DagsterAssetCheckFailedError"


@dataclass(frozen=True)
class RunOutcome:
    """`success`: Dagster's verdict on the run. A blocking check failing at ERROR fails the run
    too, though every asset was materialized: `asset_errors` lists only failed asset steps,
    `failed_checks` the blocking checks that failed."""

    spec: RunSpec
    run_id: str
    success: bool
    seconds: float
    asset_errors: tuple[str, ...] = ()
    failed_checks: tuple[str, ...] = ()

    @property
    def materialized(self) -> bool:
        return not self.asset_errors

    def describe(self) -> str:
        if self.success:
            return "ok"
        parts = list(self.asset_errors)
        if self.failed_checks:
            parts.append(f"blocking check(s) failed: {', '.join(self.failed_checks)}")
        return redact("FAILED: " + ("; ".join(parts) or "the run failed"))


def sessions_per_run(defs: dg.Definitions) -> dict[str, int]:
    """How many partitions one run of each asset may hold, from its backfill policy."""
    sizes = {}
    for node in defs.resolve_asset_graph().asset_nodes:
        policy = node.backfill_policy
        size = 1 if policy is None else policy.max_partitions_per_run or UNLIMITED
        sizes[node.key.to_user_string()] = size
    return sizes


def planned_runs(defs: dg.Definitions, plan: RunPlan) -> list[tuple[str, list[RunSpec]]]:
    """The plan's batches as runs, in execution order, each with the run config it needs."""
    sizes = sessions_per_run(defs)
    return [
        (batch.title, run_specs(batch.targets, sizes, plan.run_config(batch.targets)))
        for batch in plan.batches()
    ]


def _failures(result: dg.ExecuteInProcessResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(failed asset steps with their first error line, failed blocking checks) of a run."""
    asset_errors = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            if error is not None and error.cls_name == _CHECK_FAILED:
                continue  # reported below, check by check
            while error is not None and error.cause is not None:
                error = error.cause  # Dagster wraps the asset's own error: report the cause
            first_line = (error.message if error else "failed").strip().splitlines()[0]
            asset_errors.append(redact(f"{event.step_key}: {first_line}"))
    checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.blocking and e.severity.value == "ERROR"
    ]
    return tuple(asset_errors), tuple(dict.fromkeys(checks))


def execute_one(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    spec: RunSpec,
    tags: Mapping[str, str],
    log_level: str,
) -> RunOutcome:
    """One run of `spec` in this process; failures are reported, never raised."""
    assets = {dg.AssetKey(a) for a in spec.assets}
    # The assets' checks except freshness, which only its own schedule judges.
    checks = {
        key
        for key in job.asset_layer.asset_graph.asset_check_keys
        if key.asset_key in assets and key not in freshness_check_keys()
    }
    subset = job.get_subset(asset_selection=assets, asset_check_selection=checks)
    run_tags = dict(tags)
    kwargs: dict[str, Any] = {}
    if len(spec.sessions) == 1:
        kwargs["partition_key"] = spec.sessions[0].isoformat()
    else:
        run_tags[RANGE_START_TAG] = spec.sessions[0].isoformat()
        run_tags[RANGE_END_TAG] = spec.sessions[-1].isoformat()
    run_config = {
        **dict(spec.run_config or {}),
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }
    started = time.monotonic()
    result = subset.execute_in_process(
        run_config=run_config, instance=instance, tags=run_tags, raise_on_error=False, **kwargs
    )
    asset_errors, failed_checks = _failures(result)
    if not result.success and not asset_errors and not failed_checks:
        asset_errors = ("the run failed before any step (see the run in the UI)",)
    return RunOutcome(
        spec,
        result.run_id,
        result.success,
        time.monotonic() - started,
        asset_errors if not result.success else (),
        failed_checks,
    )


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    specs: Sequence[RunSpec],
    on_done: Callable[[RunOutcome], None] | None = None,
    tags: Mapping[str, str] | None = None,
    log_level: str = "CRITICAL",
) -> list[RunOutcome]:
    """Execute each run in this process against `instance`; a failed run does not stop the
    others (later runs may still have what they need). Console logs below `log_level` are
    left to the instance's event log (the UI shows them)."""
    job = defs.resolve_implicit_global_asset_job_def()
    outcomes = []
    for spec in specs:
        outcome = execute_one(job, instance, spec, tags or {}, log_level)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes

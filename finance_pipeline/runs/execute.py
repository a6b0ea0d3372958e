"""Executing planned runs in this process against a Dagster instance (the demo and
`finance-pipeline backfill --in-process`); each run shows in the UI like any other."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from finance_pipeline.automation.jobs import freshness_check_keys
from finance_pipeline.redaction import redact
from finance_pipeline.runs.interrupts import stop_requests
from finance_pipeline.runs.planner import RunPlan
from finance_pipeline.runs.specs import RunSpec, contiguous, run_specs

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


class RunsInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped `execute`: the run in progress was stopped by Dagster (it
    stores nothing half-written), no later run started. `outcomes`: the runs that ran."""

    def __init__(self, outcomes: list[RunOutcome], planned: int) -> None:
        super().__init__(f"interrupted after {len(outcomes)} of {planned} run(s)")
        self.outcomes = outcomes
        self.planned = planned


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    specs: Sequence[RunSpec],
    on_done: Callable[[RunOutcome], None] | None = None,
    tags: Mapping[str, str] | None = None,
    log_level: str = "CRITICAL",
) -> list[RunOutcome]:
    """Execute each run in this process against `instance`; a failed run does not stop the
    others (later runs may still have what they need), Ctrl-C or SIGTERM stops them all
    (`RunsInterrupted`). Console logs below `log_level` are left to the instance's event log
    (the UI shows them)."""
    job = defs.resolve_implicit_global_asset_job_def()
    parents = _parents(defs)
    failed: dict[str, set[dt.date]] = {}  # asset -> sessions of runs that failed
    outcomes: list[RunOutcome] = []
    with stop_requests() as stop_requested:
        for planned in specs:
            held, runnable = hold_back(planned, parents, failed)
            results = [held] if held is not None else []
            for spec in runnable:
                if stop_requested():
                    break
                outcome = execute_one(job, instance, spec, tags or {}, log_level)
                results.append(outcome)
                if not outcome.success:
                    for asset in spec.assets:
                        failed.setdefault(asset, set()).update(spec.sessions)
            for outcome in results:
                outcomes.append(outcome)
                if on_done is not None:
                    on_done(outcome)
            if stop_requested():
                break
        interrupted = stop_requested()
    if interrupted:
        raise RunsInterrupted(outcomes, len(specs))
    return outcomes


def _parents(defs: dg.Definitions) -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    return {
        node.key.to_user_string(): {key.to_user_string() for key in node.parent_keys}
        for node in graph.asset_nodes
    }


def hold_back(
    spec: RunSpec, parents: Mapping[str, set[str]], failed: Mapping[str, set[dt.date]]
) -> tuple[RunOutcome | None, list[RunSpec]]:
    """`spec` without the sessions whose upstream run failed (an asset step, or a blocking
    check at ERROR, e.g. row_count): (an outcome reporting what was held back, or None; the
    runs still to execute). Dagster skips downstream steps inside one run; this does it across
    the runs of a plan, so a curated step never consumes a partition its checks refused."""
    upstream = {p for asset in spec.assets for p in parents.get(asset, ())}
    blocked = {day for p in upstream for day in failed.get(p, ()) if day in spec.sessions}
    if not blocked:
        return None, [spec]
    sources = sorted(p for p in upstream if blocked & failed.get(p, set()))
    days = sorted(blocked)
    shown = ", ".join(str(day) for day in days[:5]) + (" ..." if len(days) > 5 else "")
    held = RunOutcome(
        RunSpec(spec.assets, tuple(days), spec.run_config),
        "(not run)",
        False,
        0.0,
        (f"held back: the run of {', '.join(sources)} failed for {shown}",),
    )
    rest = [day for day in spec.sessions if day not in blocked]
    runs = [RunSpec(spec.assets, tuple(block), spec.run_config) for block in contiguous(rest)]
    return held, runs

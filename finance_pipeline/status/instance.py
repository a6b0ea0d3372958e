"""Costs and check results from the Dagster instance.

- Costs: the latest materialization of every partition, with its `api_calls`, `s3_gets`,
  `calls_saved` and `old_path_calls` metadata. A range run records its totals once (an
  unpartitioned observation, `assets.common.record_figures`): a run's totals are shared out
  over the partitions it materialized that are still the latest. Runs from before that
  recorded one set of metadata on each partition, shared out the same way.
- Checks: the latest evaluation of every check partition, and the API calls the checks spent
  (reconciliation samples): each session's own, or a range verdict's shared out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finance_pipeline.status.model import AssetCosts, CheckTally

if TYPE_CHECKING:
    import dagster as dg

COST_KEYS = ("api_calls", "s3_gets", "calls_saved", "old_path_calls")
_PAGE = 1000


@dataclass(frozen=True)
class _Record:
    partition: str | None
    run_id: str
    numbers: Mapping[str, float]


def _shared_out(records: list[_Record], run_sizes: Mapping[str, int]) -> dict[str, float]:
    """Sum each key over the latest record per partition, a run's numbers weighted by the
    share of its partitions that are still the latest."""
    by_run: dict[str, list[_Record]] = defaultdict(list)
    for record in records:
        by_run[record.run_id].append(record)
    totals: dict[str, float] = defaultdict(float)
    for run_id, latest in by_run.items():
        share = len(latest) / max(run_sizes.get(run_id, len(latest)), len(latest))
        numbers = latest[0].numbers
        for key, value in numbers.items():
            totals[key] += value * share
    return totals


def _numbers(metadata: Mapping[str, Any], keys: Iterable[str]) -> dict[str, float]:
    out = {}
    for key in keys:
        entry = metadata.get(key)
        value = getattr(entry, "value", entry)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> Iterator[Any]:
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=_PAGE, cursor=cursor)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def _run_totals(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, dict[str, float]]:
    """Run id -> the totals a range run recorded once (its unpartitioned observation)."""
    totals: dict[str, dict[str, float]] = {}
    cursor = None
    while True:
        page = instance.fetch_observations(key, limit=_PAGE, cursor=cursor)
        for record in page.records:
            observation = record.asset_observation
            if observation is not None and observation.partition is None:
                totals.setdefault(record.run_id, _numbers(observation.metadata, COST_KEYS))
        if not page.has_more:
            return totals
        cursor = page.cursor


def asset_costs(instance: dg.DagsterInstance, key: dg.AssetKey) -> AssetCosts:
    run_totals = _run_totals(instance, key)
    latest: dict[str | None, _Record] = {}
    run_sizes: Counter[str] = Counter()
    for record in _materializations(instance, key):  # newest first
        materialization = record.asset_materialization
        if materialization is None:
            continue
        run_sizes[record.run_id] += 1
        if materialization.partition in latest:
            continue
        numbers = run_totals.get(record.run_id) or _numbers(materialization.metadata, COST_KEYS)
        if "old_path_calls" not in numbers:
            numbers["old_path_calls"] = numbers.get("api_calls", 0) + numbers.get("calls_saved", 0)
        latest[materialization.partition] = _Record(
            materialization.partition, record.run_id, numbers
        )
    totals = _shared_out(list(latest.values()), run_sizes)
    return AssetCosts(
        key.to_user_string(),
        len(latest),
        *(round(totals.get(name, 0)) for name in COST_KEYS),
    )


def _check_history(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> list[Any]:
    storage = instance.event_log_storage
    records: list[Any] = []
    cursor = None
    while True:
        page = storage.get_asset_check_execution_history(key, limit=_PAGE, cursor=cursor)
        records += page  # newest first
        if len(page) < _PAGE:
            return records
        cursor = page[-1].id


def latest_check_records(records: list[Any]) -> dict[str | None, Any]:
    """The latest execution record per partition key, from newest-first `records`.

    A check evaluated once for a whole range run records its verdict without a partition while
    each partition of the run stays "planned": such a partition takes its run's verdict. A
    verdict without a partition counts under the key None only when its run planned no
    partition at all (a check on an unpartitioned asset).
    """
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as ExecStatus,
    )

    run_verdict: dict[str, Any] = {}
    for record in records:
        if record.partition is None and record.status != ExecStatus.PLANNED:
            run_verdict.setdefault(record.run_id, record)
    latest: dict[str | None, Any] = {}
    absorbed: set[str] = set()
    for record in records:
        if record.partition is None or record.partition in latest:
            continue
        if record.status == ExecStatus.PLANNED and record.run_id in run_verdict:
            absorbed.add(record.run_id)
            latest[record.partition] = run_verdict[record.run_id]
        else:
            latest[record.partition] = record
    with_partitions = {r.run_id for r in records if r.partition is not None}
    for record in records:
        if record.partition is None and record.run_id not in with_partitions | absorbed:
            latest.setdefault(None, record)
    return latest


def check_tally(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, partitioned: bool = True
) -> CheckTally:
    """Results of one check: per partition for a partitioned check; only the latest verdict
    for an unpartitioned one (a freshness check judges "now", not a partition)."""
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as ExecStatus,
    )

    records = _check_history(instance, key)
    if partitioned:
        latest = latest_check_records(records)
    else:
        verdicts = [r for r in records if r.status != ExecStatus.PLANNED]
        newest = verdicts[:1] or records[:1]
        latest = {None: newest[0]} if newest else {}
    # Partitions each run planned, to share a run's API calls over the partitions it checked.
    planned: Counter[str] = Counter(r.run_id for r in records if r.partition is not None)
    passed = failed = warned = not_run = 0
    calls: list[_Record] = []  # range verdicts (a run's calls, shared out)
    own_calls = 0.0  # per-session verdicts: each session's own calls
    finished: dict[str, bool] = {}
    for partition, record in latest.items():
        evaluation = record.event.asset_check_evaluation if record.event else None
        if record.status == ExecStatus.SUCCEEDED:
            passed += 1
        elif record.status == ExecStatus.FAILED:
            failed += 1
            if evaluation is not None and evaluation.severity.value == "WARN":
                warned += 1
        else:  # planned: still running, or its run ended without a verdict
            if record.run_id not in finished:
                run = instance.get_run_by_id(record.run_id)
                finished[record.run_id] = run is None or run.is_finished
            not_run += finished[record.run_id]
        if evaluation is not None:
            numbers = _numbers(evaluation.metadata, ["api_calls"])
            if evaluation.partition is not None:
                own_calls += numbers.get("api_calls", 0)
            else:
                calls.append(_Record(partition, record.run_id, numbers))
    api_calls = round(own_calls + _shared_out(calls, planned).get("api_calls", 0))
    return CheckTally(key.to_user_string(), passed, failed, warned, not_run, api_calls)

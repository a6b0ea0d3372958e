"""What the lake holds and what it cost: the summary shared by `finance-pipeline status` and the
demo, so both always print the same numbers.

- Coverage comes from the lake (the truth): per dataset the stored sessions, the gaps between
  the first and the last, rows (Parquet footers), and for the curated datasets the raw source
  each session came from (its `source` column).
- Costs come from the Dagster instance: the latest materialization of every partition, with
  its `api_calls`, `s3_gets`, `calls_saved` and `old_path_calls` metadata. A range run records
  one set of metadata on each of its partitions, so a run's numbers are shared out over the
  partitions it materialized instead of being counted once per partition.
- Checks come from the instance too: the latest evaluation of every check partition, and the
  API calls the checks spent (reconciliation samples), shared out the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from finance_pipeline import schemas
from finance_pipeline.calendar import sessions_between
from finance_pipeline.lake import Lake

if TYPE_CHECKING:
    import dagster as dg

CURATED = ("daily_bars", "minute_bars")
COST_KEYS = ("api_calls", "s3_gets", "calls_saved", "old_path_calls")
_PAGE = 1000
_GAPS_SHOWN = 5


@dataclass(frozen=True)
class DatasetCoverage:
    dataset: str
    sessions: int
    first: dt.date | None
    last: dt.date | None
    missing: tuple[dt.date, ...]  # sessions between first and last with no file
    rows: int
    sources: dict[str, int] = field(default_factory=dict)  # curated: raw dataset -> sessions


@dataclass(frozen=True)
class AssetCosts:
    asset: str
    partitions: int  # partitions with at least one materialization
    api_calls: int
    s3_gets: int
    calls_saved: int
    old_path_calls: int


@dataclass(frozen=True)
class CheckTally:
    check: str  # "asset:check_name"
    passed: int
    failed: int
    warned: int  # failed at WARN severity (counted in failed too)
    not_run: int  # planned in a finished run but no verdict (the check raised or was skipped)
    api_calls: int


@dataclass(frozen=True)
class Status:
    lake_root: str
    coverage: tuple[DatasetCoverage, ...]
    costs: tuple[AssetCosts, ...]
    checks: tuple[CheckTally, ...]

    @property
    def api_calls(self) -> int:
        return sum(c.api_calls for c in self.costs)

    @property
    def check_api_calls(self) -> int:
        return sum(c.api_calls for c in self.checks)

    @property
    def s3_gets(self) -> int:
        return sum(c.s3_gets for c in self.costs)

    @property
    def curated_old_path_calls(self) -> int:
        """What the old one-call-per-ticker-per-session path costs for the curated bars held."""
        return sum(c.old_path_calls for c in self.costs if c.asset in CURATED)

    @property
    def checks_passed(self) -> int:
        return sum(c.passed for c in self.checks)

    @property
    def checks_failed(self) -> int:
        return sum(c.failed for c in self.checks)

    @property
    def checks_not_run(self) -> int:
        return sum(c.not_run for c in self.checks)

    def coverage_of(self, dataset: str) -> DatasetCoverage | None:
        return next((c for c in self.coverage if c.dataset == dataset), None)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, dt.date):
                return value.isoformat()
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return {
            "lake": self.lake_root,
            "coverage": [plain(asdict(c)) for c in self.coverage],
            "costs": [asdict(c) for c in self.costs],
            "checks": [asdict(c) for c in self.checks],
            "totals": {
                "api_calls": self.api_calls,
                "check_api_calls": self.check_api_calls,
                "s3_gets": self.s3_gets,
                "calls_saved": sum(c.calls_saved for c in self.costs),
                "curated_old_path_calls": self.curated_old_path_calls,
                "checks_passed": self.checks_passed,
                "checks_failed": self.checks_failed,
                "checks_not_run": self.checks_not_run,
            },
        }


# ----------------------------------------------------------------------------- the lake


def _rows(lake: Lake, dataset: str, session: dt.date) -> int:
    if not lake.is_s3:
        with pq.ParquetFile(lake.uri(dataset, session)) as parquet:
            return parquet.metadata.num_rows
    return lake.read(dataset, session).num_rows


def _sources(lake: Lake, dataset: str, session: dt.date) -> list[str]:
    if not lake.is_s3:
        table = pq.read_table(lake.uri(dataset, session), columns=["source"])
    else:
        table = lake.read(dataset, session).select(["source"])
    return [s for s in pc.unique(table["source"]).to_pylist() if s]


def dataset_coverage(lake: Lake, dataset: str) -> DatasetCoverage:
    stored = lake.stored_sessions(dataset)
    if not stored:
        return DatasetCoverage(dataset, 0, None, None, (), 0)
    have = set(stored)
    missing = tuple(d for d in sessions_between(stored[0], stored[-1]) if d not in have)
    rows = 0
    sources: Counter[str] = Counter()
    for session in stored:
        rows += _rows(lake, dataset, session)
        if dataset in CURATED:
            sources.update(_sources(lake, dataset, session) or ["(empty)"])
    return DatasetCoverage(
        dataset, len(stored), stored[0], stored[-1], missing, rows, dict(sorted(sources.items()))
    )


def lake_coverage(lake: Lake, datasets: Iterable[str] = schemas.DATASETS) -> list[DatasetCoverage]:
    return [dataset_coverage(lake, dataset) for dataset in datasets]


# ----------------------------------------------------------------------------- the instance


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


def asset_costs(instance: dg.DagsterInstance, key: dg.AssetKey) -> AssetCosts:
    latest: dict[str | None, _Record] = {}
    run_sizes: Counter[str] = Counter()
    for record in _materializations(instance, key):  # newest first
        materialization = record.asset_materialization
        if materialization is None:
            continue
        run_sizes[record.run_id] += 1
        if materialization.partition in latest:
            continue
        numbers = _numbers(materialization.metadata, COST_KEYS)
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
    calls: list[_Record] = []
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
            calls.append(_Record(partition, record.run_id, numbers))
    api_calls = round(_shared_out(calls, planned).get("api_calls", 0))
    return CheckTally(key.to_user_string(), passed, failed, warned, not_run, api_calls)


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
    )


def status_of(lake: Lake, instance: dg.DagsterInstance, asset_graph: Any) -> Status:
    """`collect_status` for every asset and check of a code location's asset graph."""
    check_keys = list(asset_graph.asset_check_keys)
    unpartitioned = [k for k in check_keys if asset_graph.get(k).partitions_def is None]
    return collect_status(
        lake, instance, asset_graph.get_all_asset_keys(), check_keys, unpartitioned
    )


# ----------------------------------------------------------------------------- text


def _span(c: DatasetCoverage) -> str:
    if not c.sessions:
        return "-"
    return f"{c.first} .. {c.last}"


def _gaps(c: DatasetCoverage) -> str:
    if not c.missing:
        return "none"
    shown = ", ".join(str(d) for d in c.missing[:_GAPS_SHOWN])
    more = f" +{len(c.missing) - _GAPS_SHOWN} more" if len(c.missing) > _GAPS_SHOWN else ""
    return f"{len(c.missing)} ({shown}{more})"


def format_status(status: Status) -> str:
    lines = [f"lake: {status.lake_root}", ""]
    lines.append(f"{'dataset':<24}{'sessions':>9}{'rows':>13}  {'range':<26}{'missing'}")
    for c in status.coverage:
        lines.append(f"{c.dataset:<24}{c.sessions:>9,}{c.rows:>13,}  {_span(c):<26}{_gaps(c)}")
    for c in status.coverage:
        if c.sources:
            used = ", ".join(f"{raw} {n}" for raw, n in c.sources.items())
            lines.append(f"  {c.dataset} sessions per source: {used}")
    lines.append("")
    lines.append(
        f"{'asset':<24}{'partitions':>11}{'API calls':>11}{'S3 GETs':>9}"
        f"{'calls saved':>13}{'old path':>11}"
    )
    for c in status.costs:
        lines.append(
            f"{c.asset:<24}{c.partitions:>11,}{c.api_calls:>11,}{c.s3_gets:>9,}"
            f"{c.calls_saved:>13,}{c.old_path_calls:>11,}"
        )
    lines += [
        "",
        f"API calls used: {status.api_calls:,} by assets + {status.check_api_calls:,} by checks"
        f" = {status.api_calls + status.check_api_calls:,}",
        f"old per-ticker path for the curated bars held: {status.curated_old_path_calls:,} calls",
        f"S3 GETs: {status.s3_gets:,}",
        f"checks (latest per partition): {status.checks_passed:,} passed, "
        f"{status.checks_failed:,} failed, {status.checks_not_run:,} without a verdict",
    ]
    for c in status.checks:
        if c.failed or c.not_run:
            warn = f" ({c.warned} at WARN)" if c.warned else ""
            lines.append(f"  {c.check}: {c.failed} failed{warn}, {c.not_run} without a verdict")
    return "\n".join(lines)

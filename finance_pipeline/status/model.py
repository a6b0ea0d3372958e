"""The status summary: what the lake holds, what it cost, how the checks went, as plain data."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from finance_pipeline.registry import CURATED_ASSETS


@dataclass(frozen=True)
class DatasetCoverage:
    dataset: str
    sessions: int
    first: dt.date | None
    last: dt.date | None
    missing: tuple[dt.date, ...]  # sessions between first and last with no file
    rows: int
    sources: dict[str, int] = field(default_factory=dict)  # curated: raw dataset -> sessions
    bad_files: tuple[str, ...] = ()  # stored files that cannot be served: path and why


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
    quarantined: tuple[dict[str, Any], ...] = ()  # refused new files (lake.quarantine)

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
        return sum(c.old_path_calls for c in self.costs if c.asset in CURATED_ASSETS)

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
            "quarantined": list(self.quarantined),
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

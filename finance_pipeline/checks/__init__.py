"""Asset checks on the lake: reconciliation between the data paths, data quality, freshness, and
the sensor that reports failed checks.

Two layers, told apart by folder:
- `rules/`: pure pandas/pyarrow logic, no Dagster: frames in, `Verdict`s out;
- the modules here, the Dagster glue: `reconciliation` and `rest_sample` (the data paths agree),
  `quality` (each stored bars partition), `vendor_defects` (the vendor's known defects:
  split rows, price jumps, its adjustment factors), `securities` (the security master:
  renames, reuses, unmapped tickers), `freshness` (each source on time), `alerts`
  (the check-failure sensor), `quarantine_alerts` (the sensor for refused new partitions) and
  `context` (the lake resource, sessions and results they share).

definitions.py wires these lists: ALL_CHECKS into `asset_checks`, CHECK_SENSORS into `sensors`,
CHECK_SCHEDULES into `schedules`. Checks read the lake through the "lake" resource; the REST
sample check also needs the "polygon" resource. The lists are built on first access, so that
importing a rule (e.g. `checks.rules.frames` from the curated assets) loads no Dagster code.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finance_pipeline.checks.alerts import Notifier
    from finance_pipeline.checks.freshness import FRESHNESS_CHECKS
    from finance_pipeline.checks.quality import QUALITY_CHECKS
    from finance_pipeline.checks.reconciliation import RECONCILIATION_CHECKS
    from finance_pipeline.checks.securities import SECURITY_CHECKS
    from finance_pipeline.checks.vendor_defects import VENDOR_DEFECT_CHECKS

    ALL_CHECKS: list
    CHECK_SENSORS: list
    CHECK_SCHEDULES: list

__all__ = [
    "ALL_CHECKS",
    "CHECK_SCHEDULES",
    "CHECK_SENSORS",
    "FRESHNESS_CHECKS",
    "QUALITY_CHECKS",
    "RECONCILIATION_CHECKS",
    "SECURITY_CHECKS",
    "VENDOR_DEFECT_CHECKS",
    "Notifier",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from finance_pipeline.checks import (
        alerts,
        freshness,
        quality,
        quarantine_alerts,
        reconciliation,
        securities,
        vendor_defects,
    )

    exports: dict[str, Any] = {
        "ALL_CHECKS": [
            *reconciliation.RECONCILIATION_CHECKS,
            *quality.QUALITY_CHECKS,
            *freshness.FRESHNESS_CHECKS,
            *vendor_defects.VENDOR_DEFECT_CHECKS,
            *securities.SECURITY_CHECKS,
        ],
        "CHECK_SENSORS": [alerts.check_failure_alerts, quarantine_alerts.quarantine_alerts],
        "CHECK_SCHEDULES": [freshness.freshness_schedule],
        "FRESHNESS_CHECKS": freshness.FRESHNESS_CHECKS,
        "QUALITY_CHECKS": quality.QUALITY_CHECKS,
        "RECONCILIATION_CHECKS": reconciliation.RECONCILIATION_CHECKS,
        "SECURITY_CHECKS": securities.SECURITY_CHECKS,
        "VENDOR_DEFECT_CHECKS": vendor_defects.VENDOR_DEFECT_CHECKS,
        "Notifier": alerts.Notifier,
    }
    globals().update(exports)  # built once: later lookups find the module attributes
    return exports[name]

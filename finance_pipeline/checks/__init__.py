"""Asset checks: reconciliation between the data paths, data quality, freshness, alerts.

definitions.py wires these lists: ALL_CHECKS into `asset_checks`, CHECK_SENSORS into `sensors`,
CHECK_SCHEDULES into `schedules`. Checks read the lake through the "parquet_io_manager"
resource; the REST sample check also needs the "polygon" resource.
"""

from finance_pipeline.checks.alerts import Notifier, check_failure_alerts
from finance_pipeline.checks.data_quality import QUALITY_CHECKS
from finance_pipeline.checks.freshness import FRESHNESS_CHECKS, freshness_schedule
from finance_pipeline.checks.reconciliation import RECONCILIATION_CHECKS

ALL_CHECKS: list = [*RECONCILIATION_CHECKS, *QUALITY_CHECKS, *FRESHNESS_CHECKS]
CHECK_SENSORS: list = [check_failure_alerts]
CHECK_SCHEDULES: list = [freshness_schedule]

__all__ = [
    "ALL_CHECKS",
    "CHECK_SCHEDULES",
    "CHECK_SENSORS",
    "FRESHNESS_CHECKS",
    "QUALITY_CHECKS",
    "RECONCILIATION_CHECKS",
    "Notifier",
]

"""What the lake holds and what it cost: the summary shared by `finance-pipeline status` and the
demo, so both always print the same numbers.

- `coverage`: per dataset, from the lake (the truth): stored sessions, gaps, rows, sources;
- `instance`: per asset and check, from the Dagster instance: costs and latest verdicts;
- `collect`: both gathered into one `Status` (`model`: the plain data it is made of);
- `text`: the `Status` as the text both print.
"""

from finance_pipeline.status.collect import collect_status, status_of
from finance_pipeline.status.coverage import dataset_coverage, lake_coverage
from finance_pipeline.status.instance import (
    COST_KEYS,
    asset_costs,
    check_tally,
    latest_check_records,
)
from finance_pipeline.status.model import AssetCosts, CheckTally, DatasetCoverage, Status
from finance_pipeline.status.text import format_status

__all__ = [
    "COST_KEYS",
    "AssetCosts",
    "CheckTally",
    "DatasetCoverage",
    "Status",
    "asset_costs",
    "check_tally",
    "collect_status",
    "dataset_coverage",
    "format_status",
    "lake_coverage",
    "latest_check_records",
    "status_of",
]

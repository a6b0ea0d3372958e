"""Asset jobs the schedules and sensors launch; each run selects the subset the router planned.

Assets are named by key, not imported, so this module does not depend on the asset modules
(the jobs resolve against whatever `Definitions` holds those keys).
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.checks.rules.freshness import FRESHNESS_CHECK_NAME, RULES
from finance_pipeline.registry import (
    API_ASSETS,
    FLAT_FILE_ASSETS,
    FLAT_FILE_DAY_AGGS,
    GROUPED_DAILY_BARS,
)

# Run priority in the queue (higher first): fresh data beats corrections beats backfills (0).
DAILY_PRIORITY = "10"
FLAT_FILE_PRIORITY = "5"
CORRECTION_PRIORITY = "1"


def freshness_check_keys() -> list[dg.AssetCheckKey]:
    """The `fresh` check of every source: judged by its own schedule, never in these jobs."""
    return [dg.AssetCheckKey(dg.AssetKey(rule.asset), FRESHNESS_CHECK_NAME) for rule in RULES]


def materialization(*assets: str) -> dg.AssetSelection:
    """`assets` with their checks, except freshness (it would judge sessions not reached yet)."""
    return dg.AssetSelection.assets(*assets) - dg.AssetSelection.checks(*freshness_check_keys())


daily_sources_job = dg.define_asset_job(
    "daily_sources_job",
    selection=materialization(*API_ASSETS),
    description=(
        "One session of the API-served sources: universe, grouped daily bars, watchlist REST "
        "minute fills, splits and dividends. Each run holds only the assets the router planned."
    ),
)

flat_files_job = dg.define_asset_job(
    "flat_files_job",
    selection=materialization(*FLAT_FILE_ASSETS),
    description="One session's day or minute flat file, launched when the file is (re)published.",
)

correction_job = dg.define_asset_job(
    "correction_job",
    selection=materialization(GROUPED_DAILY_BARS, FLAT_FILE_DAY_AGGS),
    description=(
        "Re-fetches one recent session's daily bars from the source the router picks, to absorb "
        "vendor corrections."
    ),
)

JOBS = [daily_sources_job, flat_files_job, correction_job]

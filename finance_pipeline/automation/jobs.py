"""Asset jobs the schedules and sensors launch; each run selects the subset the router planned.

Assets are named by key, not imported, so this module does not depend on the asset modules
(the jobs resolve against whatever `Definitions` holds those keys).
"""

from __future__ import annotations

import dagster as dg

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

daily_sources_job = dg.define_asset_job(
    "daily_sources_job",
    selection=dg.AssetSelection.assets(*API_ASSETS),
    description=(
        "One session of the API-served sources: universe, grouped daily bars, watchlist REST "
        "minute fills, splits and dividends. Each run holds only the assets the router planned."
    ),
)

flat_files_job = dg.define_asset_job(
    "flat_files_job",
    selection=dg.AssetSelection.assets(*FLAT_FILE_ASSETS),
    description="One session's day or minute flat file, launched when the file is (re)published.",
)

correction_job = dg.define_asset_job(
    "correction_job",
    selection=dg.AssetSelection.assets(GROUPED_DAILY_BARS, FLAT_FILE_DAY_AGGS),
    description=(
        "Re-fetches one recent session's daily bars from the source the router picks, to absorb "
        "vendor corrections."
    ),
)

JOBS = [daily_sources_job, flat_files_job, correction_job]

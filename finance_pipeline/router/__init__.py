"""The router: the one place that decides which Polygon source serves which session.

Given a request (dataset, sessions, tickers, the current time, what is already stored) and what
the credentials allow, `plan` returns, per session, the cheapest source that has the data by
`now`, with API calls, S3 GETs, a size estimate, the least wall time the rate limit allows and
what the old per-ticker path would have cost. Plain Python: no Dagster here.

Modules, by concern:
- `model`: the request and plan types (`Request`, `Credentials`, `Plan`, `SessionPlan`) and
  their validation (`InvalidRequest`);
- `rules`: publication times, REST limits, size estimates, `min_wall_seconds`;
- `routing`: `plan` and `best_source`, the live choice of a source per session;
- `stored`: the curated layer's choice among sources already in the lake;
- `text`: `format_plan`, the CLI's table.
The dataset and source vocabulary (`Dataset`, `Source`, ...) comes from `finance_pipeline.registry`
and is re-exported here for the router's callers.
"""

from finance_pipeline.registry import DATASETS, SOURCES, Dataset, Source
from finance_pipeline.router.model import (
    Credentials,
    InvalidRequest,
    Plan,
    Request,
    SessionPlan,
)
from finance_pipeline.router.routing import best_source, plan
from finance_pipeline.router.rules import (
    DEFAULT_MARKET_SIZE,
    flat_file_available_at,
    grouped_daily_available_at,
    min_wall_seconds,
    reference_available_at,
    rest_minute_available_at,
)
from finance_pipeline.router.stored import pick_stored_source, source_rank, stored_sources
from finance_pipeline.router.text import format_plan

__all__ = [
    "DATASETS",
    "DEFAULT_MARKET_SIZE",
    "SOURCES",
    "Credentials",
    "Dataset",
    "InvalidRequest",
    "Plan",
    "Request",
    "SessionPlan",
    "Source",
    "best_source",
    "flat_file_available_at",
    "format_plan",
    "grouped_daily_available_at",
    "min_wall_seconds",
    "pick_stored_source",
    "plan",
    "reference_available_at",
    "rest_minute_available_at",
    "source_rank",
    "stored_sources",
]

"""The Polygon REST client (plain Python, no Dagster).

- `client`: `PolygonClient` and its endpoint methods;
- `transport`: rate limit, timeouts and the retry policy around every HTTP request;
- `accounting`: endpoint labels and the per-endpoint counters;
- `errors`: the `PolygonError` classes and how an HTTP answer maps to one;
- `frames`: the columns and dtypes of every frame returned.
"""

from finance_pipeline.clients.polygon_rest.accounting import ENDPOINTS, Usage, endpoint_name
from finance_pipeline.clients.polygon_rest.client import PolygonClient
from finance_pipeline.clients.polygon_rest.errors import (
    PolygonAuthError,
    PolygonBadRequestError,
    PolygonError,
    PolygonInvalidAnswerError,
    PolygonNotEntitledError,
    PolygonRateLimitedError,
    PolygonUnavailableError,
)
from finance_pipeline.clients.polygon_rest.frames import (
    AGGS_COLUMNS,
    DIVIDENDS_COLUMNS,
    GROUPED_DAILY_COLUMNS,
    SNAPSHOT_COLUMNS,
    SPLITS_COLUMNS,
    TICKERS_COLUMNS,
)
from finance_pipeline.clients.polygon_rest.transport import RetryPolicy

__all__ = [
    "AGGS_COLUMNS",
    "DIVIDENDS_COLUMNS",
    "ENDPOINTS",
    "GROUPED_DAILY_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "SPLITS_COLUMNS",
    "TICKERS_COLUMNS",
    "PolygonAuthError",
    "PolygonBadRequestError",
    "PolygonClient",
    "PolygonError",
    "PolygonInvalidAnswerError",
    "PolygonNotEntitledError",
    "PolygonRateLimitedError",
    "PolygonUnavailableError",
    "RetryPolicy",
    "Usage",
    "endpoint_name",
]

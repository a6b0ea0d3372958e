"""Vendor clients: plain Python, no Dagster (the Dagster wrappers live in `resources/`).

- `polygon_rest`: `PolygonClient`, the Polygon REST endpoints behind a metered transport;
- `polygon_flat_files`: `FlatFilesClient`, Polygon's flat files on S3, verified on download;
- `rate_limit`: the sliding-window limiter the REST client waits on (SQLite or PostgreSQL store).
"""

from finance_pipeline.clients.polygon_flat_files import (
    FlatFile,
    FlatFileAccessDenied,
    FlatFileCorrupt,
    FlatFileError,
    FlatFileNotPublished,
    FlatFileSchemaChanged,
    FlatFilesClient,
    ObjectInfo,
)
from finance_pipeline.clients.polygon_rest import (
    PolygonAuthError,
    PolygonBadRequestError,
    PolygonClient,
    PolygonError,
    PolygonInvalidAnswerError,
    PolygonNotEntitledError,
    PolygonRateLimitedError,
    PolygonUnavailableError,
)
from finance_pipeline.clients.rate_limit import RateLimiter, shared_limiter

__all__ = [
    "FlatFile",
    "FlatFileAccessDenied",
    "FlatFileCorrupt",
    "FlatFileError",
    "FlatFileNotPublished",
    "FlatFileSchemaChanged",
    "FlatFilesClient",
    "ObjectInfo",
    "PolygonAuthError",
    "PolygonBadRequestError",
    "PolygonClient",
    "PolygonError",
    "PolygonInvalidAnswerError",
    "PolygonNotEntitledError",
    "PolygonRateLimitedError",
    "PolygonUnavailableError",
    "RateLimiter",
    "shared_limiter",
]

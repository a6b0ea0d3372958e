"""The Polygon flat-file client (plain Python over boto3, no Dagster).

- `client`: `FlatFilesClient`: keys, listing, HEAD, downloads retried when a body breaks off;
- `file_format`: the CSV header and column types, and the checks a downloaded file passes;
- `errors`: the `FlatFileError` classes and how an S3 failure maps to one.
"""

from finance_pipeline.clients.polygon_flat_files.client import FlatFile, FlatFilesClient, ObjectInfo
from finance_pipeline.clients.polygon_flat_files.errors import (
    FlatFileAccessDenied,
    FlatFileCorrupt,
    FlatFileError,
    FlatFileNotPublished,
    FlatFileSchemaChanged,
)
from finance_pipeline.clients.polygon_flat_files.file_format import COLUMN_TYPES, DTYPES, HEADER

__all__ = [
    "COLUMN_TYPES",
    "DTYPES",
    "HEADER",
    "FlatFile",
    "FlatFileAccessDenied",
    "FlatFileCorrupt",
    "FlatFileError",
    "FlatFileNotPublished",
    "FlatFileSchemaChanged",
    "FlatFilesClient",
    "ObjectInfo",
]

"""CONTRACT SKELETON (to be implemented): the Parquet lake.

Layout: `<root>/<dataset>/session=YYYY-MM-DD/part-0.parquet`, root a local directory or
`s3://bucket/prefix`. One file per (dataset, session); schemas from `schemas.DATASETS`.
Writes are atomic: local = write a temporary file in the same directory, fsync, os.replace;
S3 = one PutObject of the finished bytes. A reader never sees half a file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa


class PartitionMissing(LookupError):
    """No stored file for (dataset, session)."""


@dataclass(frozen=True)
class WriteResult:
    dataset: str
    session: dt.date
    uri: str
    rows: int
    bytes: int


class Lake:
    def __init__(self, root: str, s3_client=None) -> None:
        """root: a directory or s3://bucket/prefix; s3_client: a boto3 S3 client for s3 roots."""
        raise NotImplementedError

    def uri(self, dataset: str, session: dt.date) -> str: ...
    def write(self, dataset: str, session: dt.date, table: pa.Table) -> WriteResult:
        """Validate against the dataset schema (all rows of this session); write atomically."""
        raise NotImplementedError

    def write_sessions(
        self, dataset: str, table: pa.Table, sessions: list[dt.date]
    ) -> list[WriteResult]:
        """Split `table` by its `session` column and write one file per session in `sessions`
        (an empty file for a session with no rows); rows outside `sessions` are an error."""
        raise NotImplementedError

    def read(self, dataset: str, session: dt.date) -> pa.Table: ...
    def read_many(self, dataset: str, sessions: list[dt.date]) -> pa.Table: ...
    def exists(self, dataset: str, session: dt.date) -> bool: ...
    def stored_sessions(self, dataset: str) -> list[dt.date]: ...

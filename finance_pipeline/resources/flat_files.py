"""CONTRACT SKELETON (to be implemented): Polygon flat files on S3.

`FlatFilesClient` is plain Python over a boto3 S3 client; `FlatFilesResource` wraps dagster-aws
`S3Resource` (endpoint, keys, bucket from the environment contract) and builds one.
Key layout: `us_stocks_sip/{dataset}/{YYYY}/{MM}/{YYYY-MM-DD}.csv.gz`, datasets
`day_aggs_v1` and `minute_aggs_v1`, header exactly
`ticker,volume,open,close,high,low,window_start,transactions`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource

HEADER = ("ticker", "volume", "open", "close", "high", "low", "window_start", "transactions")


class FlatFileError(RuntimeError):
    """A flat file that cannot be used; the message names the key and the reason."""


class FlatFileNotPublished(FlatFileError): ...  # no object (yet) for that session


class FlatFileCorrupt(FlatFileError): ...  # truncated/invalid gzip, unparsable rows


class FlatFileSchemaChanged(FlatFileError): ...  # header differs from HEADER


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    session: dt.date
    etag: str  # without quotes
    last_modified: dt.datetime  # aware UTC
    size: int


@dataclass(frozen=True)
class FlatFile:
    info: ObjectInfo
    frame: pd.DataFrame  # HEADER columns; ticker str (no NA parsing), volume float64,
    #                      prices float64, window_start int64 ns, transactions int64


class FlatFilesClient:
    """requests: Counter of S3 requests sent ("list", "head", "get")."""

    requests: Counter

    def key(self, dataset: str, session: dt.date) -> str: ...
    def list_sessions(
        self, dataset: str, start: dt.date, end: dt.date
    ) -> dict[dt.date, ObjectInfo]:
        """Objects present for sessions in [start, end]; lists only the month prefixes needed."""
        raise NotImplementedError

    def head(self, dataset: str, session: dt.date) -> ObjectInfo | None: ...
    def download(self, dataset: str, session: dt.date) -> FlatFile:
        """Streamed GET to a temporary file, verified (complete gzip, exact header) before
        parsing; raises FlatFileError subclasses."""
        raise NotImplementedError


class FlatFilesResource(dg.ConfigurableResource):
    s3: dg.ResourceDependency[S3Resource]
    bucket: str = "flatfiles"
    prefix: str = "us_stocks_sip"

    def get_client(self) -> FlatFilesClient:
        raise NotImplementedError

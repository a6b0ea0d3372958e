"""`FlatFilesClient`: Polygon flat files on S3 listed, inspected (ETag, LastModified) and
downloaded whole, then verified (`file_format.read_verified`) before they become a table.

Plain Python over a boto3 S3 client. Key layout:
`us_stocks_sip/{dataset}/{YYYY}/{MM}/{YYYY-MM-DD}.csv.gz`, datasets `registry.FLAT_FILE_DATASETS`.
A download is read whole into memory (compressed, a few tens of MB); a body that breaks off is
fetched again, up to three GETs in all.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import pandas as pd
import pyarrow as pa

from finance_pipeline.calendar import SessionError, parse_session
from finance_pipeline.clients.polygon_flat_files.errors import (
    STREAM_ERRORS,
    FlatFileCorrupt,
    FlatFileError,
    FlatFileNotPublished,
    is_not_found,
    is_plain_denial,
    s3_failure,
)
from finance_pipeline.clients.polygon_flat_files.file_format import read_verified
from finance_pipeline.redaction import redact
from finance_pipeline.registry import FLAT_FILE_DATASETS

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_GET_ATTEMPTS = 3  # a GET whose stream breaks off is tried again this many times in all
_S3_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


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
    table: pa.Table  # HEADER columns of COLUMN_TYPES; ticker never null ("NA" is a ticker),
    #                  empty prices/volume null, window_start int64 ns, transactions int64

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as pandas (DTYPES; empty prices/volume NaN), a copy."""
        return self.table.to_pandas()


def _aware_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _object_info(key: str, session: dt.date, fields: dict[str, Any], size_field: str) -> ObjectInfo:
    """ObjectInfo from a listed object or a HEAD/GET response (`size_field` names the size)."""
    return ObjectInfo(
        key=key,
        session=session,
        etag=str(fields.get("ETag", "")).strip('"'),
        last_modified=_aware_utc(fields["LastModified"]),
        size=int(fields.get(size_field, 0)),
    )


class FlatFilesClient:
    """requests: Counter of S3 requests sent ("list", "head", "get")."""

    def __init__(
        self,
        s3_client: Any,
        bucket: str = "flatfiles",
        prefix: str = "us_stocks_sip",
        *,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._secrets = [s for s in secrets if s]
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FlatFilesClient(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    def _error(self, exc: Exception, action: str, key: str) -> FlatFileError:
        return s3_failure(exc, action, self.bucket, key, self._secrets)

    # ---- keys -------------------------------------------------------------------------------

    def _dataset_prefix(self, dataset: str) -> str:
        if dataset not in FLAT_FILE_DATASETS:
            raise ValueError(
                f"unknown flat-file dataset {dataset!r}; expected one of {FLAT_FILE_DATASETS}"
            )
        return f"{self.prefix}/{dataset}" if self.prefix else dataset

    def key(self, dataset: str, session: dt.date) -> str:
        """The object key of one session's file; refuses dates that are not sessions."""
        day = parse_session(session)
        return f"{self._dataset_prefix(dataset)}/{day:%Y}/{day:%m}/{day.isoformat()}.csv.gz"

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # ---- list / head ------------------------------------------------------------------------

    def list_sessions(
        self, dataset: str, start: dt.date, end: dt.date
    ) -> dict[dt.date, ObjectInfo]:
        """Objects present for sessions in [start, end]; lists only the month prefixes needed.

        Objects whose name is not a session date are skipped with a warning."""
        base = self._dataset_prefix(dataset)
        pattern = re.compile(
            rf"^{re.escape(base)}/\d{{4}}/\d{{2}}/(\d{{4}}-\d{{2}}-\d{{2}})\.csv\.gz$"
        )
        found: dict[dt.date, ObjectInfo] = {}
        for year, month in _months(start, end):
            for obj in self._list(f"{base}/{year:04d}/{month:02d}/"):
                match = pattern.match(obj["Key"])
                if not match:
                    continue
                try:
                    day = parse_session(match.group(1))
                except SessionError as exc:
                    logger.warning("flat files: skipping %s: %s", self._uri(obj["Key"]), exc)
                    continue
                if start <= day <= end:
                    found[day] = _object_info(obj["Key"], day, obj, "Size")
        return dict(sorted(found.items()))

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under `prefix`, all pages."""
        objects: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            self._count("list")
            try:
                page = self.s3.list_objects_v2(**kwargs)
            except _S3_ERRORS as exc:
                raise self._error(exc, "listing", prefix) from None
            objects.extend(page.get("Contents", []))
            if not page.get("IsTruncated"):
                return objects
            token = page.get("NextContinuationToken")

    def head(self, dataset: str, session: dt.date) -> ObjectInfo | None:
        """The object's ETag, LastModified and size, or None when it is not published."""
        key = self.key(dataset, session)
        self._count("head")
        try:
            response = self.s3.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if is_not_found(exc) or self._unlisted(exc, dataset, session):
                return None
            raise self._error(exc, "HEAD", key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "HEAD", key) from None
        return _object_info(key, session, response, "ContentLength")

    def _unlisted(self, exc: botocore.exceptions.ClientError, dataset: str, day: dt.date) -> bool:
        """Whether a 403 on (dataset, day) means "not published yet": the listing works and does
        not show the object. A listing that is refused too leaves the 403 an access denial."""
        if not is_plain_denial(exc):
            return False
        try:
            return parse_session(day) not in self.list_sessions(dataset, day, day)
        except (FlatFileError, SessionError):
            return False

    # ---- download ---------------------------------------------------------------------------

    def download(self, dataset: str, session: dt.date) -> FlatFile:
        """GET the object, check its header line, parse it from the gzip stream; raises
        FlatFileError subclasses (not published, refused, corrupt, schema changed)."""
        key = self.key(dataset, session)
        info, body = self._get(key, dataset, parse_session(session))
        return FlatFile(info=info, table=read_verified(self._uri(key), body))

    def _get(self, key: str, dataset: str, session: dt.date) -> tuple[ObjectInfo, bytes]:
        """The object's info and its complete (compressed) bytes; a body that breaks off is
        fetched again."""
        last_error: Exception | None = None
        for _ in range(_GET_ATTEMPTS):
            self._count("get")
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                unlisted = not is_not_found(exc) and self._unlisted(exc, dataset, session)
                if is_not_found(exc) or unlisted:
                    how = "HTTP 403 and not in the listing" if unlisted else "no such object"
                    raise FlatFileNotPublished(
                        f"flat file {self._uri(key)} is not published yet ({how}); "
                        "Polygon publishes a session's files by about 11:00 New York time the "
                        "next day"
                    ) from None
                raise self._error(exc, "GET", key) from None
            except botocore.exceptions.BotoCoreError as exc:
                raise self._error(exc, "GET", key) from None
            info = _object_info(key, session, response, "ContentLength")
            try:
                body = b"".join(response["Body"].iter_chunks(_CHUNK))
            except STREAM_ERRORS as exc:
                last_error = exc
                logger.warning("flat files: GET %s broke off (%s); retrying", key, exc)
                continue
            if info.size and len(body) != info.size:
                last_error = RuntimeError(f"got {len(body)} of {info.size} bytes")
                continue
            return info, body
        raise FlatFileCorrupt(
            redact(
                f"flat file {self._uri(key)}: the download kept ending early "
                f"({_GET_ATTEMPTS} attempts; last: {last_error})",
                self._secrets,
            )
        )

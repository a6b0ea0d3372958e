"""Polygon flat files on S3: list, head (ETag, LastModified), verified streamed download.

`FlatFilesClient` is plain Python over a boto3 S3 client; `FlatFilesResource` wraps dagster-aws
`S3Resource` (endpoint, keys, bucket from the environment contract) and builds one.
Key layout: `us_stocks_sip/{dataset}/{YYYY}/{MM}/{YYYY-MM-DD}.csv.gz`, datasets
`day_aggs_v1` and `minute_aggs_v1`, header exactly
`ticker,volume,open,close,high,low,window_start,transactions`.

A download is read whole into memory (compressed, a few tens of MB), its header line checked,
then parsed by pyarrow.csv straight from the gzip stream with explicit column types. Arrow's
inflater verifies the whole stream (a truncated gzip, a bad CRC or length raises), so a bad file
raises a `FlatFileError` naming the key and the reason instead of yielding a table.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from dagster_aws.s3 import S3Resource

from finance_pipeline.calendar import SessionError, parse_session
from finance_pipeline.redaction import redact

logger = logging.getLogger(__name__)

HEADER = ("ticker", "volume", "open", "close", "high", "low", "window_start", "transactions")
DATASETS = ("day_aggs_v1", "minute_aggs_v1")
# The parsed file's Arrow types, and DTYPES the pandas dtypes of `FlatFile.frame`.
COLUMN_TYPES: dict[str, pa.DataType] = {
    "ticker": pa.string(),
    "volume": pa.float64(),
    "open": pa.float64(),
    "close": pa.float64(),
    "high": pa.float64(),
    "low": pa.float64(),
    "window_start": pa.int64(),
    "transactions": pa.int64(),
}
DTYPES = {
    "ticker": "str",
    "volume": "float64",
    "open": "float64",
    "close": "float64",
    "high": "float64",
    "low": "float64",
    "window_start": "int64",
    "transactions": "int64",
}
# Integer columns cannot be empty; an empty price or volume is a missing value (null).
_REQUIRED = ("window_start", "transactions")
_CHUNK = 1 << 20
_HEADER_PROBE = 1 << 16  # compressed bytes inflated to read the header line
_GET_ATTEMPTS = 3  # a GET whose stream breaks off is tried again this many times in all
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED = frozenset(
    {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
# The body of a GET can break off mid-stream; botocore does not retry those.
_STREAM_ERRORS = (
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


class FlatFileError(RuntimeError):
    """A flat file that cannot be used; the message names the key and the reason."""


class FlatFileNotPublished(FlatFileError): ...  # no object (yet) for that session


class FlatFileCorrupt(FlatFileError): ...  # truncated/invalid gzip, unparsable rows


class FlatFileSchemaChanged(FlatFileError): ...  # header differs from HEADER


class FlatFileAccessDenied(FlatFileError): ...  # credentials refused / plan without flat files


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


def _empty_table() -> pa.Table:
    return pa.schema(list(COLUMN_TYPES.items())).empty_table()


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


class FlatFilesClient:
    """requests: Counter of S3 requests sent ("list", "head", "get")."""

    requests: Counter

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
        self.requests = Counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FlatFilesClient(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    # ---- keys -------------------------------------------------------------------------------

    def _dataset_prefix(self, dataset: str) -> str:
        if dataset not in DATASETS:
            raise ValueError(f"unknown flat-file dataset {dataset!r}; expected one of {DATASETS}")
        return f"{self.prefix}/{dataset}" if self.prefix else dataset

    def key(self, dataset: str, session: dt.date) -> str:
        """The object key of one session's file; refuses dates that are not sessions."""
        day = parse_session(session)
        return f"{self._dataset_prefix(dataset)}/{day:%Y}/{day:%m}/{day.isoformat()}.csv.gz"

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # ---- errors -----------------------------------------------------------------------------

    def _error(self, exc: Exception, action: str, key: str) -> FlatFileError:
        """A clear FlatFileError for an S3/botocore failure, with secrets masked."""
        where = self._uri(key)
        kind: type[FlatFileError] = FlatFileError
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "?"))
            detail = error.get("Message") or code
            if code in _DENIED:
                kind = FlatFileAccessDenied
                message = (
                    f"flat files: {action} {where} was refused ({code}: {detail}); check "
                    "FLATFILES_ACCESS_KEY_ID / FLATFILES_SECRET_ACCESS_KEY and that the plan "
                    "includes flat files"
                )
            elif code == "NoSuchBucket":
                message = f"flat files: bucket {self.bucket!r} does not exist ({action} {where})"
            else:
                message = f"flat files: {action} {where} failed ({code}: {detail})"
        elif isinstance(exc, botocore.exceptions.NoCredentialsError):
            message = (
                f"flat files: no S3 credentials for {action} {where}; set "
                "FLATFILES_ACCESS_KEY_ID and FLATFILES_SECRET_ACCESS_KEY"
            )
        elif isinstance(exc, botocore.exceptions.EndpointConnectionError):
            message = f"flat files: cannot reach the S3 endpoint for {action} {where} ({exc})"
        else:
            message = f"flat files: {action} {where} failed ({type(exc).__name__}: {exc})"
        return kind(redact(message, self._secrets))

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
            month_prefix = f"{base}/{year:04d}/{month:02d}/"
            token = None
            while True:
                kwargs = {"Bucket": self.bucket, "Prefix": month_prefix}
                if token:
                    kwargs["ContinuationToken"] = token
                self._count("list")
                try:
                    page = self.s3.list_objects_v2(**kwargs)
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                    raise self._error(e, "listing", month_prefix) from None
                for obj in page.get("Contents", []):
                    match = pattern.match(obj["Key"])
                    if not match:
                        continue
                    try:
                        day = parse_session(match.group(1))
                    except SessionError as exc:
                        logger.warning("flat files: skipping %s: %s", self._uri(obj["Key"]), exc)
                        continue
                    if start <= day <= end:
                        found[day] = ObjectInfo(
                            key=obj["Key"],
                            session=day,
                            etag=str(obj.get("ETag", "")).strip('"'),
                            last_modified=_aware_utc(obj["LastModified"]),
                            size=int(obj.get("Size", 0)),
                        )
                if not page.get("IsTruncated"):
                    break
                token = page.get("NextContinuationToken")
        return dict(sorted(found.items()))

    def head(self, dataset: str, session: dt.date) -> ObjectInfo | None:
        """The object's ETag, LastModified and size, or None when it is not published."""
        key = self.key(dataset, session)
        self._count("head")
        try:
            response = self.s3.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                return None
            raise self._error(exc, "HEAD", key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "HEAD", key) from None
        return self._info(key, session, response)

    @staticmethod
    def _info(key: str, session: dt.date, response: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            session=session,
            etag=str(response.get("ETag", "")).strip('"'),
            last_modified=_aware_utc(response["LastModified"]),
            size=int(response.get("ContentLength", 0)),
        )

    # ---- download ---------------------------------------------------------------------------

    def download(self, dataset: str, session: dt.date) -> FlatFile:
        """GET the object, check its header line, parse it from the gzip stream; raises
        FlatFileError subclasses (not published, refused, corrupt, schema changed)."""
        key = self.key(dataset, session)
        info, body = self._get(key, parse_session(session))
        uri = self._uri(key)
        header, rest = self._first_line(uri, body)
        self._check_header(uri, header)
        if rest is not None and not rest.strip():  # a header and no rows
            return FlatFile(info=info, table=_empty_table())
        return FlatFile(info=info, table=self._parse(uri, body))

    def _get(self, key: str, session: dt.date) -> tuple[ObjectInfo, bytes]:
        """The object's info and its complete (compressed) bytes; a body that breaks off is
        fetched again."""
        last_error: Exception | None = None
        for _ in range(_GET_ATTEMPTS):
            self._count("get")
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                    raise FlatFileNotPublished(
                        f"flat file {self._uri(key)} is not published (no such object); "
                        "Polygon publishes a session's files by about 11:00 New York time the "
                        "next day"
                    ) from None
                raise self._error(exc, "GET", key) from None
            except botocore.exceptions.BotoCoreError as exc:
                raise self._error(exc, "GET", key) from None
            info = self._info(key, session, response)
            try:
                body = b"".join(response["Body"].iter_chunks(_CHUNK))
            except _STREAM_ERRORS as exc:
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

    @staticmethod
    def _first_line(uri: str, body: bytes) -> tuple[bytes, bytes | None]:
        """The first line of the inflated file from its first compressed bytes only, and the
        rest of the file when those bytes held all of it (else None)."""
        if not body:
            raise FlatFileCorrupt(f"flat file {uri} is an empty object (not a gzip file)")
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # gzip framing
        try:
            head = inflater.decompress(body[:_HEADER_PROBE])
        except zlib.error as exc:
            raise FlatFileCorrupt(f"flat file {uri} is not a valid gzip file ({exc})") from None
        line, newline, rest = head.partition(b"\n")
        if not newline and not inflater.eof and len(body) <= _HEADER_PROBE:
            raise FlatFileCorrupt(f"flat file {uri} is truncated (it ends in its header line)")
        return line, (rest if inflater.eof and not inflater.unused_data else None)

    @staticmethod
    def _check_header(uri: str, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
        if not text:
            raise FlatFileCorrupt(f"flat file {uri} has no header line (empty CSV)")
        found = tuple(column.strip() for column in text.split(","))
        if found != HEADER:
            missing = [c for c in HEADER if c not in found]
            extra = [c for c in found if c not in HEADER]
            changes = []
            if missing:
                changes.append(f"missing {missing}")
            if extra:
                changes.append(f"new {extra}")
            if not changes:
                changes.append("columns reordered")
            raise FlatFileSchemaChanged(
                f"flat file {uri} has header {','.join(found)!r}, expected "
                f"{','.join(HEADER)!r} ({'; '.join(changes)})"
            )

    @staticmethod
    def _parse(uri: str, body: bytes) -> pa.Table:
        """The whole file as a table; the inflater checks the stream to its end (length, CRC)."""
        # Blocks of the inflated stream are parsed on Arrow's thread pool as they come.
        read = pa_csv.ReadOptions(column_names=list(HEADER), skip_rows=1)
        convert = pa_csv.ConvertOptions(
            column_types=COLUMN_TYPES,
            # Tickers are never missing: NA, NULL and NAN are real tickers.
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[""],
        )
        try:
            stream = pa.CompressedInputStream(pa.BufferReader(body), "gzip")
            table = pa_csv.read_csv(stream, read_options=read, convert_options=convert)
        except pa.ArrowInvalid as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FlatFileCorrupt(f"flat file {uri} has unparsable rows ({message})") from None
        except OSError as exc:  # from the gzip inflater
            reason = "truncated" if "truncated" in str(exc).lower() else "not a valid gzip file"
            raise FlatFileCorrupt(f"flat file {uri} is {reason} ({exc})") from None
        for name in _REQUIRED:
            if empty := table[name].null_count:
                raise FlatFileCorrupt(
                    f"flat file {uri} has unparsable rows ({empty} empty {name} value(s))"
                )
        return table


class FlatFilesResource(dg.ConfigurableResource):
    # A nested resource, not dg.ResourceDependency[...]: with postponed annotations (this
    # module's `from __future__ import annotations`) Dagster rejects an S3Resource instance
    # passed for a ResourceDependency field.
    s3: S3Resource
    bucket: str = "flatfiles"
    prefix: str = "us_stocks_sip"

    def get_client(self) -> FlatFilesClient:
        secret = getattr(self.s3, "aws_secret_access_key", None)
        return FlatFilesClient(
            self.s3.get_client(),
            bucket=self.bucket,
            prefix=self.prefix,
            secrets=[secret if isinstance(secret, str) else None],
        )

"""FlatFilesClient against the sandbox's S3 (moto server mode) with real boto3 over loopback."""

from __future__ import annotations

import datetime as dt
import gzip
import time

import boto3
import botocore.exceptions
import numpy as np
import pytest
from botocore.config import Config

from finance_pipeline.calendar import SessionError, sessions_between
from finance_pipeline.clients.polygon_flat_files import (
    COLUMN_TYPES,
    DTYPES,
    HEADER,
    FlatFileAccessDenied,
    FlatFileCorrupt,
    FlatFileNotPublished,
    FlatFileSchemaChanged,
    FlatFilesClient,
)
from finance_pipeline.sandbox import Sandbox

# Tuesday 2025-02-04 13:00 New York: files up to 2025-02-03 are published, today's are not.
NOW = dt.datetime(2025, 2, 4, 18, 0, tzinfo=dt.UTC)
SESSION = dt.date(2025, 2, 3)
TODAY = dt.date(2025, 2, 4)
DAY, MINUTE = "day_aggs_v1", "minute_aggs_v1"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(tickers=60, seed=13, now=NOW) as sandbox:
        yield sandbox


def make_client(sb: Sandbox) -> FlatFilesClient:
    """A client on `sb`'s S3 with one attempt per request, its secret masked in messages."""
    s3 = boto3.client(
        "s3",
        endpoint_url=sb.s3_endpoint_url,
        aws_access_key_id=sb.s3_access_key_id,
        aws_secret_access_key=sb.s3_secret_access_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    return FlatFilesClient(s3, bucket=sb.bucket, secrets=[sb.s3_secret_access_key])


@pytest.fixture
def client(sb) -> FlatFilesClient:
    sb.faults.clear()
    sb.reset_counters()
    return make_client(sb)


def s3_counts(sb: Sandbox, total: int) -> dict[str, int]:
    """The sandbox's S3 operation counts once `total` operations are logged."""
    deadline = time.monotonic() + 10
    counters = sb.counters
    while sum(counters.s3_operations.values()) < total and time.monotonic() < deadline:
        time.sleep(0.02)
        counters = sb.counters
    return dict(counters.s3_operations)


def expected_day_rows(sb: Sandbox, session: dt.date):
    bars = sb.market.day_bars(session)
    return bars[~bars["otc"]].reset_index(drop=True)  # OTC names are not in flat files


def test_list_reads_only_the_month_prefixes_needed(client, sb):
    start = dt.date(2025, 1, 27)
    found = client.list_sessions(DAY, start, TODAY)
    assert list(found) == sessions_between(start, SESSION)  # today's file is not out yet
    info = found[SESSION]
    assert info.key == "us_stocks_sip/day_aggs_v1/2025/02/2025-02-03.csv.gz"
    assert info.etag and '"' not in info.etag
    assert info.last_modified.tzinfo is not None and info.size > 0
    assert client.requests == {"list": 2}  # January and February
    assert s3_counts(sb, 2) == {"ListObjectsV2": 2}


def test_head_returns_object_info_or_none(client, sb):
    info = client.head(DAY, SESSION)
    assert info is not None and info.session == SESSION
    listed = client.list_sessions(DAY, SESSION, SESSION)[SESSION]
    assert (info.etag, info.size) == (listed.etag, listed.size)
    assert client.head(DAY, TODAY) is None
    assert client.requests == {"head": 2, "list": 2}  # the 403 on TODAY is read from a listing
    assert s3_counts(sb, 4) == {"HeadObject": 2, "ListObjectsV2": 2}


def test_download_day_file_matches_the_market(client, sb):
    flat = client.download(DAY, SESSION)
    frame = flat.frame
    assert tuple(frame.columns) == HEADER
    assert {c: str(t) for c, t in frame.dtypes.items()} == DTYPES
    expected = expected_day_rows(sb, SESSION)
    assert frame["ticker"].tolist() == expected["ticker"].tolist()
    assert "NA" in set(frame["ticker"])  # a real ticker, not a missing value
    assert frame["ticker"].notna().all()
    for column in ("open", "close", "high", "low", "volume"):
        assert np.allclose(frame[column], expected[column]), column
    assert frame["window_start"].tolist() == expected["window_start"].tolist()
    assert flat.info.etag == client.head(DAY, SESSION).etag
    assert client.requests == {"get": 1, "head": 1}
    assert s3_counts(sb, 2) == {"GetObject": 1, "HeadObject": 1}


def test_download_is_an_arrow_table_of_the_declared_types(client, sb):
    flat = client.download(DAY, SESSION)
    assert flat.table.schema.names == list(HEADER)
    assert dict(zip(flat.table.schema.names, flat.table.schema.types, strict=True)) == COLUMN_TYPES
    assert flat.table["ticker"].null_count == 0
    assert flat.table.num_rows == len(flat.frame) == len(expected_day_rows(sb, SESSION))


def test_download_minute_file(client, sb):
    flat = client.download(MINUTE, SESSION)
    otc = set(sb.market.listings().query("market == 'otc'")["ticker"])
    minutes = sb.market.minute_bars(SESSION)
    expected = minutes[~minutes["ticker"].isin(otc)]
    assert len(flat.frame) == len(expected) > 0
    assert flat.frame["volume"].sum() == pytest.approx(expected["volume"].sum())
    assert {c: str(t) for c, t in flat.frame.dtypes.items()} == DTYPES
    assert client.requests == {"get": 1}


def test_truncated_gzip_is_corrupt(client, sb):
    sb.faults.truncate(DAY, SESSION)
    with pytest.raises(FlatFileCorrupt, match=r"2025-02-03\.csv\.gz is truncated"):
        client.download(DAY, SESSION)


def test_missing_and_unpublished_files(client, sb):
    sb.faults.remove(DAY, SESSION)
    with pytest.raises(FlatFileNotPublished, match=r"2025-02-03\.csv\.gz is not published"):
        client.download(DAY, SESSION)
    with pytest.raises(FlatFileNotPublished, match="2025-02-04"):
        client.download(MINUTE, TODAY)
    assert SESSION not in client.list_sessions(DAY, SESSION, SESSION)


def test_an_unpublished_object_answers_403_and_means_not_published_yet(client, sb):
    # The vendor's S3 answers 403 (not 404) for a session's object that is not published.
    raw = sb.s3_client()
    key = client.key(DAY, TODAY)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        raw.get_object(Bucket=sb.bucket, Key=key)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # ... and the product reads it from the listing: not published yet, not "check credentials".
    with pytest.raises(FlatFileNotPublished, match=r"not published yet \(HTTP 403 and not in"):
        client.download(DAY, TODAY)
    assert client.head(DAY, TODAY) is None
    # A weekend has no object ever: 404 NoSuchKey.
    with pytest.raises(botocore.exceptions.ClientError) as weekend:
        raw.head_object(Bucket=sb.bucket, Key=key.replace("2025-02-04", "2025-02-01"))
    assert weekend.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_changed_header_is_a_schema_change(client, sb):
    sb.faults.bad_header(DAY, SESSION)
    with pytest.raises(FlatFileSchemaChanged) as caught:
        client.download(DAY, SESSION)
    message = str(caught.value)
    assert "2025-02-03.csv.gz" in message
    assert "missing ['window_start']" in message and "new ['timestamp']" in message


def test_non_session_dates_are_refused_before_any_request(client, sb):
    with pytest.raises(SessionError, match="weekend"):
        client.key(DAY, dt.date(2025, 2, 1))
    with pytest.raises(SessionError, match="holiday"):
        client.download(DAY, dt.date(2025, 1, 1))
    with pytest.raises(ValueError, match="unknown flat-file dataset"):
        client.head("trades_v2", SESSION)
    assert client.total_requests == 0


def test_free_plan_has_no_flat_files(fresh_sandbox):
    free = fresh_sandbox(tickers=20, plan="free")
    client = make_client(free)
    session = dt.date(2025, 1, 31)
    with pytest.raises(FlatFileAccessDenied, match="was refused") as caught:
        client.head(DAY, session)
    assert free.s3_secret_access_key not in str(caught.value)
    with pytest.raises(FlatFileAccessDenied, match="AccessDenied"):
        client.download(DAY, session)


# ---- files the sandbox does not make: objects put under a prefix of their own ------------------
ROW = b"AAPL,1200.5,187.1,188.2,189.0,186.4,1738558800000000000,42\n"
HEADER_LINE = ",".join(HEADER).encode() + b"\n"


def _bad_crc(body: bytes) -> bytes:
    damaged = bytearray(body)
    damaged[-8] ^= 0xFF  # the gzip trailer's CRC-32
    return bytes(damaged)


def _many_rows(count: int) -> bytes:
    """Rows that compress poorly, so the file is larger than the header probe."""
    return b"".join(
        f"T{i},{i * 7.25},{i % 977}.1,{i % 983}.2,{i % 991}.3,{i % 997}.4,{i},{i % 89}\n".encode()
        for i in range(count)
    )


BIG = gzip.compress(HEADER_LINE + _many_rows(30_000))
assert len(BIG) > 4 * 65536  # past the header probe: the CRC is checked by the parser


ODD_FILES = {
    "bad CRC": (
        _bad_crc(gzip.compress(HEADER_LINE + ROW * 50)),
        FlatFileCorrupt,
        "is not a valid gzip file",
    ),
    "bad CRC in a big file": (_bad_crc(BIG), FlatFileCorrupt, "is not a valid gzip file"),
    "a big file cut short": (BIG[: len(BIG) // 2], FlatFileCorrupt, "is truncated"),
    "not gzip at all": (HEADER_LINE + ROW, FlatFileCorrupt, "is not a valid gzip file"),
    "empty object": (b"", FlatFileCorrupt, "is an empty object"),
    "cut inside the header": (gzip.compress(HEADER_LINE + ROW)[:12], FlatFileCorrupt, "truncated"),
    "empty window_start": (
        gzip.compress(HEADER_LINE + b"AAPL,1,2,3,4,5,,42\n"),
        FlatFileCorrupt,
        r"unparsable rows \(1 empty window_start",
    ),
    "a word for a number": (
        gzip.compress(HEADER_LINE + b"AAPL,lots,2,3,4,5,6,42\n"),
        FlatFileCorrupt,
        "unparsable rows .*invalid value 'lots'",
    ),
    "a short row": (
        gzip.compress(HEADER_LINE + ROW + b"AAPL,1,2\n"),
        FlatFileCorrupt,
        "unparsable rows .*Expected 8 columns, got 3",
    ),
}


@pytest.fixture
def own_prefix(sb):
    """A client over `tests/...` keys in the sandbox's bucket, and a function putting a body at
    SESSION's day key."""
    s3 = sb.s3_client()
    client = FlatFilesClient(s3, bucket=sb.bucket, prefix="tests")
    key = client.key(DAY, SESSION)

    def put(body: bytes) -> None:
        s3.put_object(Bucket=sb.bucket, Key=key, Body=body)

    yield client, put
    s3.delete_object(Bucket=sb.bucket, Key=key)


@pytest.mark.parametrize("case", list(ODD_FILES))
def test_a_damaged_file_is_refused_by_name(own_prefix, case):
    client, put = own_prefix
    body, error, reason = ODD_FILES[case]
    put(body)
    with pytest.raises(error, match=reason) as caught:
        client.download(DAY, SESSION)
    assert "tests/day_aggs_v1/2025/02/2025-02-03.csv.gz" in str(caught.value)


def test_tickers_that_look_missing_stay_tickers_and_empty_prices_are_null(own_prefix):
    client, put = own_prefix
    rows = b"NA,1,2,3,4,5,6,7\nNULL,,2,3,4,5,6,7\nNAN,1,,3,4,5,6,7\n"
    put(gzip.compress(b"\xef\xbb\xbf" + HEADER_LINE + rows))  # with a byte-order mark
    table = client.download(DAY, SESSION).table
    assert table["ticker"].to_pylist() == ["NA", "NULL", "NAN"]
    assert table["volume"].to_pylist() == [1.0, None, 1.0]
    assert table["open"].to_pylist() == [2.0, 2.0, None]
    assert table["transactions"].to_pylist() == [7, 7, 7]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_a_header_without_rows_is_an_empty_table(own_prefix, ending):
    client, put = own_prefix
    put(gzip.compress(HEADER_LINE.rstrip(b"\n") + ending))
    table = client.download(DAY, SESSION).table
    assert table.num_rows == 0
    assert dict(zip(table.schema.names, table.schema.types, strict=True)) == COLUMN_TYPES


def test_a_file_of_several_gzip_members_is_read_whole(own_prefix):
    client, put = own_prefix
    put(gzip.compress(HEADER_LINE + ROW) + gzip.compress(ROW.replace(b"AAPL", b"MSFT")))
    assert client.download(DAY, SESSION).table["ticker"].to_pylist() == ["AAPL", "MSFT"]

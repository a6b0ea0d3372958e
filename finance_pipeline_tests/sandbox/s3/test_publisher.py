"""Flat files through the sandbox: key layout, contents, publish times, counting, plans, faults."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib

import pandas as pd
import polygon
import pytest
from botocore.exceptions import ClientError

from finance_pipeline.calendar import NEW_YORK, next_session, sessions_between
from finance_pipeline.sandbox import object_key

D = dt.date.fromisoformat
HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
DAY, MINUTE = "day_aggs_v1", "minute_aggs_v1"


def read(sb, dataset: str, session: dt.date) -> bytes:
    obj = sb.s3_client().get_object(Bucket=sb.bucket, Key=object_key(dataset, session))
    return obj["Body"].read()


def frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(gzip.decompress(data)),
        dtype={"ticker": str, "volume": float},
        keep_default_na=False,
    )


def keys(sb, prefix: str) -> list[str]:
    pages = (
        sb.s3_client().get_paginator("list_objects_v2").paginate(Bucket=sb.bucket, Prefix=prefix)
    )
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def etag(sb, dataset: str, session: dt.date) -> str:
    return sb.s3_client().head_object(Bucket=sb.bucket, Key=object_key(dataset, session))["ETag"]


def missing(sb, dataset: str, session: dt.date) -> bool:
    try:
        etag(sb, dataset, session)
    except ClientError as error:
        # A session's object not published answers 403, like the vendor's S3.
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return True
    return False


def midnight_ns(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), NEW_YORK).timestamp()) * 1_000_000_000


@pytest.mark.parametrize("dataset", [DAY, MINUTE])
def test_one_object_per_session_under_polygons_key_layout(sandbox, dataset):
    # Keys of 2024-11-20..29: Thanksgiving (28th) and the weekend have none.
    listed = keys(sandbox, f"us_stocks_sip/{dataset}/2024/11/2024-11-2")
    sessions = sessions_between(D("2024-11-20"), D("2024-11-29"))
    assert listed == [f"us_stocks_sip/{dataset}/2024/11/{s.isoformat()}.csv.gz" for s in sessions]
    assert len(listed) == 7


def test_day_file_has_the_exact_header_and_the_rest_numbers(sandbox):
    session = D("2024-11-29")
    data = read(sandbox, DAY, session)
    assert gzip.decompress(data).decode().splitlines()[0] == HEADER
    bars = frame(data).set_index("ticker")
    assert {"NA", "BRK.A", "KIMpL"} <= set(bars.index)  # case kept, NA is a ticker
    assert (bars["window_start"] == midnight_ns(session)).all()
    rest = polygon.RESTClient(api_key=sandbox.api_key, base=sandbox.rest_url)
    grouped = rest.get_grouped_daily_aggs(session, adjusted=False)
    assert sorted(b.ticker for b in grouped) == sorted(bars.index)  # OTC in neither
    for bar in grouped:
        row = bars.loc[bar.ticker]
        assert (bar.open, bar.high, bar.low, bar.close) == (
            row["open"],
            row["high"],
            row["low"],
            row["close"],
        )
        assert (bar.volume, bar.transactions) == (row["volume"], row["transactions"])
    for ticker in ("BRK.A", "NA", "KIMpL"):  # the per-ticker path agrees as well
        (day_bar,) = rest.get_aggs(ticker, 1, "day", session, session, adjusted=False)
        row = bars.loc[ticker]
        assert (day_bar.open, day_bar.close, day_bar.volume) == (
            row["open"],
            row["close"],
            row["volume"],
        )
        assert day_bar.timestamp * 1_000_000 == row["window_start"]


def test_minute_file_matches_rest_minute_aggs(sandbox):
    session, ticker = D("2024-12-24"), "BRK.A"  # a half day
    data = read(sandbox, MINUTE, session)
    assert gzip.decompress(data).decode().splitlines()[0] == HEADER
    bars = frame(data)
    assert bars["window_start"].dtype == "int64"
    local = pd.to_datetime(bars["window_start"], utc=True).dt.tz_convert(NEW_YORK)
    assert local.dt.date.eq(session).all()
    assert (local.dt.hour >= 4).all() and (local.dt.hour < 20).all()
    rest = polygon.RESTClient(api_key=sandbox.api_key, base=sandbox.rest_url)
    aggs = rest.get_aggs(ticker, 1, "minute", session, session, adjusted=False, limit=50000)
    mine = bars[bars["ticker"] == ticker]
    assert [a.timestamp * 1_000_000 for a in aggs] == mine["window_start"].tolist()
    assert [a.close for a in aggs] == mine["close"].tolist()
    assert [a.volume for a in aggs] == mine["volume"].tolist()


def test_same_seed_gives_byte_identical_files(fresh_sandbox):
    week = {"start": D("2025-01-27"), "end": D("2025-01-31")}
    one, two = fresh_sandbox(**week), fresh_sandbox(**week)
    for dataset in (DAY, MINUTE):
        assert read(one, dataset, D("2025-01-28")) == read(two, dataset, D("2025-01-28"))
    assert etag(one, DAY, D("2025-01-29")) == etag(two, DAY, D("2025-01-29"))
    different = fresh_sandbox(seed=8, **week)
    assert read(different, DAY, D("2025-01-28")) != read(one, DAY, D("2025-01-28"))


def test_files_appear_at_publish_time_the_next_day(fresh_sandbox):
    before = dt.datetime(2025, 1, 8, 10, 59, tzinfo=NEW_YORK)
    sb = fresh_sandbox(start=D("2025-01-02"), end=D("2025-01-14"), now=before)
    assert sb.publish_time(DAY, D("2025-01-07")) == dt.datetime(2025, 1, 8, 11, 0, tzinfo=NEW_YORK)
    assert not missing(sb, DAY, D("2025-01-06"))
    assert missing(sb, DAY, D("2025-01-07")) and missing(sb, MINUTE, D("2025-01-07"))
    sb.advance(dt.timedelta(minutes=1))
    assert not missing(sb, DAY, D("2025-01-07")) and not missing(sb, MINUTE, D("2025-01-07"))
    sb.set_now(dt.datetime(2025, 1, 11, 11, 0, tzinfo=NEW_YORK))
    assert not missing(sb, DAY, D("2025-01-10"))
    assert missing(sb, DAY, D("2025-01-09"))  # the closure never has a file
    sb.set_now(before)  # the clock going back takes files away again
    assert missing(sb, DAY, D("2025-01-10")) and missing(sb, MINUTE, D("2025-01-07"))


def test_a_client_get_is_counted_and_publishing_is_not(fresh_sandbox):
    sb = fresh_sandbox(start=D("2025-01-27"), end=D("2025-01-31"))
    sb.reset_counters()
    read(sb, DAY, D("2025-01-28"))
    read(sb, DAY, D("2025-01-29"))
    keys(sb, "us_stocks_sip/day_aggs_v1/2025/01/")
    counters = sb.counters
    assert counters.s3_gets == 2
    assert counters.s3_operations == {"GetObject": 2, "ListObjectsV2": 1}
    assert counters.s3_statuses == {200: 3}
    assert [entry[1] for entry in counters.s3_log] == ["GetObject", "GetObject", "ListObjectsV2"]
    sb.reset_counters()
    assert sb.counters.s3_operations == {}


def test_free_plan_and_unknown_keys_are_refused(fresh_sandbox):
    sb = fresh_sandbox(plan="free", start=D("2025-01-27"), end=D("2025-01-31"))
    with pytest.raises(ClientError) as denied:
        read(sb, DAY, D("2025-01-28"))
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert sb.counters.s3_statuses == {403: 1}
    paid = fresh_sandbox(start=D("2025-01-27"), end=D("2025-01-31"))
    stranger = paid._boto3_client("AKIASTRANGER", "whatever")
    with pytest.raises(ClientError) as unknown:
        stranger.list_objects_v2(Bucket=paid.bucket)
    assert unknown.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_fault_truncate_remove_late_and_clear(fresh_sandbox):
    sb = fresh_sandbox(start=D("2025-01-27"), end=D("2025-01-31"))
    session = D("2025-01-28")
    pristine = read(sb, DAY, session)
    sb.faults.truncate(DAY, session)
    truncated = read(sb, DAY, session)
    assert len(truncated) < len(pristine)
    with pytest.raises((EOFError, zlib.error, OSError)):
        gzip.decompress(truncated)
    sb.faults.remove(MINUTE, session)
    assert missing(sb, MINUTE, session)
    sb.faults.late(DAY, D("2025-01-30"), dt.timedelta(days=5))
    assert missing(sb, DAY, D("2025-01-30"))
    sb.faults.clear()
    assert read(sb, DAY, session) == pristine
    assert not missing(sb, MINUTE, session) and not missing(sb, DAY, D("2025-01-30"))


def test_fault_restate_publishes_a_new_object_with_corrected_values(fresh_sandbox):
    sb = fresh_sandbox(start=D("2025-01-27"), end=D("2025-01-31"))
    session = D("2025-01-29")
    old_tag, old = etag(sb, DAY, session), frame(read(sb, DAY, session)).set_index("ticker")
    sb.faults.restate(DAY, session, tickers=["AAPL"], price_factor=1.01, volume_delta=100)
    new_tag, new = etag(sb, DAY, session), frame(read(sb, DAY, session)).set_index("ticker")
    assert new_tag != old_tag
    assert new.loc["AAPL", "close"] == pytest.approx(old.loc["AAPL", "close"] * 1.01)
    assert new.loc["AAPL", "volume"] == old.loc["AAPL", "volume"] + 100
    assert new.drop(index="AAPL").equals(old.drop(index="AAPL"))
    rest = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url)
    grouped = {b.ticker: b for b in rest.get_grouped_daily_aggs(session, adjusted=False)}
    assert grouped["AAPL"].close == new.loc["AAPL", "close"]  # REST carries the correction


def test_fault_wrong_day_and_bad_header(fresh_sandbox):
    sb = fresh_sandbox(start=D("2025-01-27"), end=D("2025-01-31"))
    session = D("2025-01-29")
    sb.faults.wrong_day(DAY, session)
    assert (
        frame(read(sb, DAY, session))["window_start"] == midnight_ns(next_session(session))
    ).all()
    sb.faults.wrong_day(MINUTE, session)
    minutes = pd.to_datetime(frame(read(sb, MINUTE, session))["window_start"], utc=True)
    assert minutes.dt.tz_convert(NEW_YORK).dt.date.eq(next_session(session)).all()
    sb.faults.bad_header(DAY, D("2025-01-28"), header="ticker,vol,o,c,h,l,ts,n")
    lines = gzip.decompress(read(sb, DAY, D("2025-01-28"))).decode().splitlines()
    assert lines[0] == "ticker,vol,o,c,h,l,ts,n" and len(lines) > 100

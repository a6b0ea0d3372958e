"""The flat-file objects: their keys and their bytes (Polygon's gzip CSV of a session's bars,
with the session's restatements and file faults applied)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
from typing import Any

from finance_pipeline.calendar import NEW_YORK, next_session

PREFIX = "us_stocks_sip"
DAY_AGGS = "day_aggs_v1"
MINUTE_AGGS = "minute_aggs_v1"
DATASETS = (DAY_AGGS, MINUTE_AGGS)
HEADER = "ticker,volume,open,close,high,low,window_start,transactions"


def object_key(dataset: str, session: dt.date, prefix: str = PREFIX) -> str:
    return f"{prefix}/{dataset}/{session:%Y}/{session:%m}/{session.isoformat()}.csv.gz"


def render_csv_gz(frame: Any, header: str = HEADER) -> bytes:
    """Bars (market columns) as Polygon's gzip CSV, deterministic bytes.

    Written by pyarrow (6x faster than pandas): shortest round-trip floats, whole numbers
    without ".0" (so volumes read as integers, as in real files), tickers unquoted.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.table(
        {
            "ticker": pa.array(frame["ticker"].to_numpy(dtype=object), pa.string()),
            "volume": pa.array(frame["volume"].to_numpy(dtype="float64")),
            "open": pa.array(frame["open"].to_numpy(dtype="float64")),
            "close": pa.array(frame["close"].to_numpy(dtype="float64")),
            "high": pa.array(frame["high"].to_numpy(dtype="float64")),
            "low": pa.array(frame["low"].to_numpy(dtype="float64")),
            "window_start": pa.array(frame["window_start"].to_numpy(dtype="int64")),
            "transactions": pa.array(frame["transactions"].to_numpy(dtype="int64")),
        }
    )
    buffer = io.BytesIO()
    buffer.write(f"{header}\n".encode())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    pa_csv.write_csv(table, buffer, options)
    # Level 1: minute files of big universes compress 4x faster, ~25% larger.
    return gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0)


def render_object(
    market: Any, faults: Any, otc: frozenset[str], dataset: str, session: dt.date
) -> bytes:
    """The object's bytes: market bars, restated, OTC left out, file faults applied."""
    frame = market.day_bars(session) if dataset == DAY_AGGS else market.minute_bars(session)
    frame = frame[~frame["ticker"].isin(otc)]
    frame = faults.restated(dataset, session, frame)
    file_faults = faults.file_faults(dataset, session)
    header = HEADER
    if file_faults is not None:
        if file_faults.wrong_day:
            frame = frame.assign(window_start=_shift_to_next_session(frame, session))
        header = file_faults.header or HEADER
        if file_faults.keep_share is not None:
            frame = frame.iloc[: int(len(frame) * file_faults.keep_share)]
    body = render_csv_gz(frame, header)
    if file_faults is not None and file_faults.truncate:
        body = body[: max(10, len(body) // 2)]
    return body


def _shift_to_next_session(frame: Any, session: dt.date) -> Any:
    """window_start moved to the same New York time of day on the next session."""

    def midnight_ns(day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time(), NEW_YORK).timestamp()) * 1_000_000_000

    shift = midnight_ns(next_session(session)) - midnight_ns(session)
    return frame["window_start"].astype("int64") + shift

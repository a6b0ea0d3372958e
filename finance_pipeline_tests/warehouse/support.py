"""Rows for the warehouse tests: curated bars, flat-file aggregates, splits and dividends."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.calendar import sessions_between
from finance_pipeline.lake import Lake

SESSIONS = sessions_between(dt.date(2023, 12, 18), dt.date(2024, 1, 12))  # spans two years


def bars(session: dt.date, closes: dict[str, float], source: str = "flat_file_day_aggs"):
    """Curated daily bars of one session; every price derived from the close."""
    midnight = dt.datetime.combine(session, dt.time(5), dt.UTC)
    rows = [
        {
            "ticker": ticker,
            "session": session,
            "window_start": midnight,
            "open": close * 0.99,
            "high": close * 1.02,
            "low": close * 0.97,
            "close": close,
            "volume": 1000.0 + index,
            "vwap": close * 1.001,
            "transactions": 10 + index,
            "source": source,
        }
        for index, (ticker, close) in enumerate(sorted(closes.items()))
    ]
    return pa.Table.from_pylist(rows, schema=schemas.CURATED_BARS)


def flat_aggs(session: dt.date, etag: str, close: float = 10.0) -> pa.Table:
    base = bars(session, {"AAA": close, "BBB": close + 1}).drop_columns(["source"])
    modified = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    base = base.append_column("source_etag", pa.array([etag] * base.num_rows, pa.string()))
    base = base.append_column(
        "source_last_modified", pa.array([modified] * base.num_rows, schemas.TIMESTAMP)
    )
    return base.cast(schemas.FLAT_FILE_DAY_AGGS)


def split(ticker: str, day: dt.date, split_from: float, split_to: float, id_: str) -> dict:
    return {
        "session": day,
        "ticker": ticker,
        "execution_date": day,
        "split_from": split_from,
        "split_to": split_to,
        "id": id_,
    }


def dividend(ticker: str, day: dt.date, cash: float) -> dict:
    return {"session": day, "ticker": ticker, "ex_dividend_date": day, "cash_amount": cash}


def write_rows(lake: Lake, dataset: str, day: dt.date, rows: list[dict]) -> None:
    lake.write(dataset, day, pa.Table.from_pylist(rows, schema=schemas.DATASETS[dataset]))


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["ticker"], r["session"]))


def closes_for(index: int) -> dict[str, float]:
    return {"AAA": 10.0 + index, "BBB": 50.0 - index, "BRK.A": 500.0 + 2 * index}

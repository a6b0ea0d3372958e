"""Splits and dividends: v3 reference endpoints (`/v3/reference/splits|dividends`, the
market's rows as they are, the split duplicate included, as recorded v3 bodies are: no `id`,
and `currency` absent on some dividends) and v1 endpoints (`/stocks/v1/...`, de-duplicated,
with ids and historical adjustment factors computed from the rows they serve, so they are
consistent with the sandbox's own splits and dividends). Both carry `Faults.bogus_split` rows."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from finance_pipeline.calendar import SessionError, previous_session
from finance_pipeline.sandbox.market.seeding import event_id
from finance_pipeline.sandbox.rest.market_view import MarketView
from finance_pipeline.sandbox.rest.paging import (
    decode_cursor,
    filter_rows,
    page,
    present,
    sort_rows,
    v1_sort_keys,
    v3_sort_keys,
)
from finance_pipeline.sandbox.rest.protocol import Body, Query, json_number, query_bool, query_int

DIVIDEND_FIELDS = (
    "id",
    "cash_amount",
    "currency",
    "declaration_date",
    "dividend_type",
    "ex_dividend_date",
    "frequency",
    "pay_date",
    "record_date",
    "ticker",
)
_DIVIDEND_DATES = ("declaration_date", "ex_dividend_date", "record_date", "pay_date")


def _split_rows(view: MarketView) -> pd.DataFrame:
    frame = view.market.splits().copy()
    bogus = [
        {
            "id": event_id(0, "bogus-split", ticker, day),
            "ticker": ticker,
            "execution_date": day,
            "split_from": split_from,
            "split_to": split_to,
        }
        for ticker, day, split_from, split_to in view.faults.bogus_splits()
    ]
    if bogus:
        frame = pd.concat([frame, pd.DataFrame(bogus)], ignore_index=True)
    frame["execution_date"] = frame["execution_date"].map(lambda d: d.isoformat())
    frame["id"] = frame["id"].astype(str)
    return frame


def _split_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "execution_date": row["execution_date"],
        "split_from": json_number(row["split_from"]),
        "split_to": json_number(row["split_to"]),
        "ticker": row["ticker"],
    }


def v3_splits(view: MarketView, params: list[str], query: Query) -> Body:
    query, offset = decode_cursor(query)
    limit = query_int(query, "limit", 10, 1, 1000)
    frame = _split_rows(view)
    frame = filter_rows(frame, query, "ticker", str)
    frame = filter_rows(frame, query, "execution_date", str)
    if query.get("reverse_split"):
        reverse = query_bool(query, "reverse_split", False)
        frame = frame[(frame["split_from"] > frame["split_to"]) == reverse]
    frame = sort_rows(frame, v3_sort_keys(query, "execution_date"))
    url = f"{view.base_url}/v3/reference/splits"
    return page(url, frame, _split_json, query, offset, limit)


def v1_splits(view: MarketView, params: list[str], query: Query) -> Body:
    query, offset = decode_cursor(query)
    limit = query_int(query, "limit", 100, 1, 5000)
    today = view.today()
    frame = _split_rows(view).drop_duplicates(subset=["ticker", "execution_date"])
    frame = frame.assign(ratio=frame["split_to"] / frame["split_from"])
    frame = frame.assign(
        adjustment_type=np.where(
            frame["split_to"] > frame["split_from"], "forward_split", "reverse_split"
        )
    )
    frame = filter_rows(frame, query, "ticker", str)
    frame = filter_rows(frame, query, "execution_date", str)
    if query.get("adjustment_type"):
        frame = frame[frame["adjustment_type"] == query["adjustment_type"]]
    frame = sort_rows(frame, v1_sort_keys(query.get("sort"), "execution_date"))

    served = list(zip(frame["ticker"], frame["execution_date"], frame["ratio"], strict=True))

    def render(row: dict[str, Any]) -> dict[str, Any]:
        # This split and the later ones served for the ticker, up to today.
        executed, as_of = row["execution_date"], max(today.isoformat(), row["execution_date"])
        factor = math.prod(
            r for t, day, r in served if t == row["ticker"] and executed <= day <= as_of
        )
        out = _split_json(row)
        return {
            "id": row["id"],
            "ticker": out["ticker"],
            "execution_date": out["execution_date"],
            "split_from": out["split_from"],
            "split_to": out["split_to"],
            "adjustment_type": row["adjustment_type"],
            "historical_adjustment_factor": 1.0 / factor,
        }

    return page(f"{view.base_url}/stocks/v1/splits", frame, render, query, offset, limit)


def _dividend_rows(view: MarketView) -> pd.DataFrame:
    frame = view.market.dividends().copy()
    for column in _DIVIDEND_DATES:
        frame[column] = frame[column].map(lambda d: None if d is None else d.isoformat())
    frame["id"] = frame["id"].astype(str)
    return frame


def _dividend_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in DIVIDEND_FIELDS if k != "id" and present(row.get(k))}
    out["cash_amount"] = float(row["cash_amount"])
    out["frequency"] = int(row["frequency"])
    return out


def v3_dividends(view: MarketView, params: list[str], query: Query) -> Body:
    query, offset = decode_cursor(query)
    limit = query_int(query, "limit", 10, 1, 1000)
    frame = _dividend_rows(view)
    frame = filter_rows(frame, query, "ticker", str)
    for column in ("ex_dividend_date", "record_date", "declaration_date", "pay_date"):
        frame = filter_rows(frame, query, column, str)
    frame = filter_rows(frame, query, "cash_amount", float)
    frame = filter_rows(frame, query, "frequency", int)
    if query.get("dividend_type"):
        frame = frame[frame["dividend_type"] == query["dividend_type"]]
    frame = sort_rows(frame, v3_sort_keys(query, "ex_dividend_date"))
    url = f"{view.base_url}/v3/reference/dividends"
    return page(url, frame, _v3_dividend_json, query, offset, limit)


def _v3_dividend_json(row: dict[str, Any]) -> dict[str, Any]:
    out = _dividend_json(row)
    if int(row["id"][-1], 16) % 4 == 0:  # recorded v3 bodies sometimes omit the currency
        out.pop("currency", None)
    return out


def v1_dividends(view: MarketView, params: list[str], query: Query) -> Body:
    query, offset = decode_cursor(query)
    limit = query_int(query, "limit", 100, 1, 5000)
    today = view.today()
    frame = _dividend_rows(view)
    frame = frame.assign(distribution_type=np.where(frame["frequency"] > 0, "recurring", "special"))
    factors = _dividend_factors(view, frame, today)
    frame = filter_rows(frame, query, "ticker", str)
    frame = filter_rows(frame, query, "ex_dividend_date", str)
    frame = filter_rows(frame, query, "frequency", int)
    if query.get("distribution_type"):
        frame = frame[frame["distribution_type"] == query["distribution_type"]]
    frame = sort_rows(frame, v1_sort_keys(query.get("sort"), "ex_dividend_date"))

    def render(row: dict[str, Any]) -> dict[str, Any]:
        out = {"id": row["id"], **_dividend_json(row)}
        out.pop("dividend_type", None)
        ex = dt.date.fromisoformat(row["ex_dividend_date"])
        split = float(view.market.split_factor(row["ticker"], ex, max(today, ex)))
        out.update(
            distribution_type=row["distribution_type"],
            historical_adjustment_factor=factors.get(row["id"], 1.0),
            split_adjusted_cash_amount=float(row["cash_amount"]) / split,
        )
        return out

    return page(f"{view.base_url}/stocks/v1/dividends", frame, render, query, offset, limit)


def _dividend_factors(view: MarketView, frame: pd.DataFrame, today: dt.date) -> dict[str, float]:
    """id -> cumulative price factor of a dividend and the later ones (up to today)."""
    own: dict[str, tuple[str, str, float]] = {}
    for row in frame.to_dict("records"):
        ex = dt.date.fromisoformat(row["ex_dividend_date"])
        factor = 1.0
        if ex <= today:
            try:
                prev = previous_session(ex)
            except SessionError:
                prev = None
            if prev is not None and prev in view.sessions:
                bars = view.day_bars(prev)
                close = bars.loc[bars["ticker"] == row["ticker"], "close"]
                if len(close) and close.iloc[0] > 0:
                    factor = 1.0 - float(row["cash_amount"]) / float(close.iloc[0])
        own[row["id"]] = (row["ticker"], row["ex_dividend_date"], factor)
    return {
        div_id: math.prod(f for t, e, f in own.values() if t == ticker and e >= ex)
        for div_id, (ticker, ex, _) in own.items()
    }

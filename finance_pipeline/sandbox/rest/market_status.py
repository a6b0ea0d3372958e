"""Today's market: the full-market snapshot (`/v2/snapshot/...`, paid plans), the market status
(`/v1/marketstatus/now`) and upcoming closures (`/v1/marketstatus/upcoming`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from finance_pipeline.calendar import (
    NEW_YORK,
    is_session,
    new_york_date,
    previous_session,
    session_close,
    session_open,
    xnys,
)
from finance_pipeline.sandbox.rest.market_view import BAR_COLUMNS, MarketView
from finance_pipeline.sandbox.rest.protocol import (
    MSG_NOT_ENTITLED,
    NS_PER_MS,
    Body,
    Query,
    not_authorized,
    query_bool,
    request_id,
    unix_ns,
)

_EMPTY_BARS = pd.DataFrame({"ticker": pd.Series(dtype=str)} | {c: [] for c in BAR_COLUMNS})
_ZERO_BAR = {"o": 0.0, "h": 0.0, "l": 0.0, "c": 0.0, "v": 0.0, "vw": 0.0}


def snapshot(view: MarketView, params: list[str], query: Query) -> Body:
    if view.config.plan == "free":
        raise not_authorized(MSG_NOT_ENTITLED)
    include_otc = query_bool(query, "include_otc", False)
    wanted = {t for t in (query.get("tickers") or "").split(",") if t}
    now = view.clock()
    today = new_york_date(now)
    now_ns = unix_ns(now)
    prev = previous_session(today)
    prev_day = view.day_bars(prev) if prev in view.sessions else _EMPTY_BARS
    if today in view.sessions:
        minutes = view.minute_bars(today, None)
        minutes = minutes[minutes["window_start"] + 60_000_000_000 <= now_ns]
    else:
        minutes = _EMPTY_BARS
    tickers = view.market.tickers_as_of(today, True)["ticker"]
    if not include_otc:
        tickers = tickers[~tickers.isin(view.otc)]
    if wanted:
        tickers = tickers[tickers.isin(wanted)]
    prev_by = {r["ticker"]: r for r in prev_day.to_dict("records")}
    groups = {t: g for t, g in minutes.groupby("ticker", sort=False)} if len(minutes) else {}
    out = []
    for ticker in tickers.tolist():
        item = _ticker_snapshot(ticker, prev_by.get(ticker), groups.get(ticker), now_ns)
        if ticker in view.otc:
            item["otc"] = True
        out.append(item)
    return {"status": "OK", "request_id": request_id(), "count": len(out), "tickers": out}


def _ticker_snapshot(
    ticker: str, prev: dict[str, Any] | None, minutes: pd.DataFrame | None, now_ns: int
) -> dict[str, Any]:
    day = _day_summary(minutes)
    item: dict[str, Any] = {
        "ticker": ticker,
        "day": day,
        "prevDay": _bar_json(prev) if prev else _ZERO_BAR,
        "updated": now_ns,
        "todaysChange": 0.0,
        "todaysChangePerc": 0.0,
    }
    if minutes is not None and prev:
        change = day["c"] - prev["close"]
        item["todaysChange"] = change
        item["todaysChangePerc"] = change / prev["close"] * 100 if prev["close"] else 0.0
    if minutes is not None:
        last = minutes.iloc[-1]
        item["min"] = {
            "av": float(minutes["volume"].sum()),
            "t": int(last["window_start"]) // NS_PER_MS,
            "n": int(last["transactions"]),
            "o": float(last["open"]),
            "h": float(last["high"]),
            "l": float(last["low"]),
            "c": float(last["close"]),
            "v": float(last["volume"]),
            "vw": float(last["vwap"]),
        }
    return item


def _bar_json(bar: dict[str, Any]) -> dict[str, Any]:
    return {
        "o": bar["open"],
        "h": bar["high"],
        "l": bar["low"],
        "c": bar["close"],
        "v": bar["volume"],
        "vw": bar["vwap"],
    }


def _day_summary(minutes: pd.DataFrame | None) -> dict[str, Any]:
    if minutes is None or minutes.empty:
        return dict(_ZERO_BAR)
    volume = float(minutes["volume"].sum())
    vwap = float((minutes["vwap"] * minutes["volume"]).sum() / volume) if volume else 0.0
    return {
        "o": float(minutes["open"].iloc[0]),
        "h": float(minutes["high"].max()),
        "l": float(minutes["low"].min()),
        "c": float(minutes["close"].iloc[-1]),
        "v": volume,
        "vw": vwap,
    }


def market_status(view: MarketView, params: list[str], query: Query) -> Body:
    now = view.clock()
    local = now.astimezone(NEW_YORK)
    today = local.date()
    market, early, after = "closed", False, False
    if is_session(today):
        opens, closes = session_open(today), session_close(today)
        pre_start = dt.datetime.combine(today, dt.time(4, 0), NEW_YORK)
        post_end = closes + dt.timedelta(hours=4)
        if opens <= now < closes:
            market = "open"
        elif pre_start <= now < opens:
            market, early = "extended-hours", True
        elif closes <= now < post_end:
            market, after = "extended-hours", True
    return {
        "market": market,
        "earlyHours": early,
        "afterHours": after,
        "serverTime": local.isoformat(timespec="seconds"),
        "exchanges": {"nyse": market, "nasdaq": market, "otc": market},
        "currencies": {"fx": "open", "crypto": "open"},
    }


def market_holidays(view: MarketView, params: list[str], query: Query) -> list[dict[str, Any]]:
    today = view.today()
    return upcoming_holidays(today, today + dt.timedelta(days=365))


def upcoming_holidays(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """NYSE/NASDAQ closures and early closes in [start, end] (Polygon's `upcoming` shape)."""
    closed, early = _closures(start, end)
    out: list[dict[str, Any]] = []
    for day in sorted({*closed, *early}):
        if day.weekday() >= 5:
            continue
        iso = day.isoformat()
        for exchange in ("NYSE", "NASDAQ"):
            if day in closed and not is_session(day):
                out.append(
                    {"exchange": exchange, "name": closed[day], "date": iso, "status": "closed"}
                )
            elif day in early and is_session(day):
                opens = session_open(day).astimezone(dt.UTC)
                closes = session_close(day).astimezone(dt.UTC)
                out.append(
                    {
                        "exchange": exchange,
                        "name": early[day],
                        "date": iso,
                        "status": "early-close",
                        "open": opens.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "close": closes.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    }
                )
    return out


def _closures(start: dt.date, end: dt.date) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """(full closures, early closes) in [start, end] by date, with their names."""
    calendar = xnys()
    last = min(end, calendar.last_session.date())
    if last < start:
        return {}, {}
    lo, hi = pd.Timestamp(start), pd.Timestamp(last)
    named = calendar.regular_holidays.holidays(lo, hi, return_name=True)
    closed: dict[dt.date, str] = {ts.date(): str(name) for ts, name in named.items()}
    for ts in calendar.adhoc_holidays:
        if lo <= pd.Timestamp(ts) <= hi:
            closed.setdefault(pd.Timestamp(ts).date(), "Market Closed")
    early: dict[dt.date, str] = {}
    for _close_time, holidays in calendar.special_closes:
        for ts, name in holidays.holidays(lo, hi, return_name=True).items():
            early[ts.date()] = str(name)
    for ts in calendar.early_closes:
        if lo <= ts <= hi:
            early.setdefault(ts.date(), "Early Close")
    return closed, early

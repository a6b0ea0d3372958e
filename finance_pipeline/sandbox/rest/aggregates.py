"""Aggregate bars: grouped daily (`/v2/aggs/grouped/...`) and per-ticker aggregates of any
supported window (`/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from finance_pipeline.calendar import NEW_YORK, new_york_date
from finance_pipeline.sandbox.rest import routes
from finance_pipeline.sandbox.rest.market_view import BAR_COLUMNS, MarketView
from finance_pipeline.sandbox.rest.paging import decode_cursor, encode_cursor
from finance_pipeline.sandbox.rest.protocol import (
    NS_PER_MS,
    Body,
    Query,
    bad_request,
    midnight_ns,
    ms_at,
    parse_date,
    query_bool,
    query_int,
    request_id,
    unix_ns,
)

UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_BASE_COLUMNS = ["ticker", *BAR_COLUMNS]
_EMPTY_BASE = pd.DataFrame(
    {"ticker": pd.Series(dtype=str)} | {c: [] for c in BAR_COLUMNS} | {"session": []}
)


def grouped_daily(view: MarketView, params: list[str], query: Query) -> Body:
    session = parse_date(params[0], "date")
    adjusted = query_bool(query, "adjusted", True)
    include_otc = query_bool(query, "include_otc", False)
    now = view.clock()
    today = new_york_date(now)
    view.check_day(session, today)
    body: Body = {
        "queryCount": 0,
        "resultsCount": 0,
        "adjusted": adjusted,
        "status": "OK",
        "request_id": request_id(),
    }
    if not view.day_visible(session, now, today) or view.faults.is_grouped_daily_empty(session):
        return body
    frame = view.day_bars(session)
    if not include_otc:
        frame = frame[~frame["otc"].astype(bool)]
    frame = view.faults.apply_rest(routes.GROUPED_DAILY, session, frame)
    frame = view.faults.garbage(session, frame)
    if adjusted:
        frame = view.adjust_session(frame, session, today)
    t_ms = ms_at(session, dt.time(16, 0))
    results = []
    for ticker, v, vw, o, c, h, low, n, otc in zip(
        *(frame[c].tolist() for c in ("ticker", "volume", "vwap", "open", "close")),
        *(frame[c].tolist() for c in ("high", "low", "transactions", "otc")),
        strict=True,
    ):
        row: dict[str, Any] = {"T": ticker, "v": v}
        if vw == vw:  # not NaN
            row["vw"] = vw
        row.update({"o": o, "c": c, "h": h, "l": low, "t": t_ms, "n": n})
        if otc:
            row["otc"] = True
        results.append(row)
    body["queryCount"] = body["resultsCount"] = len(results)
    body["results"] = results
    return body


@dataclass(frozen=True)
class AggsRequest:
    ticker: str
    multiplier: int
    timespan: str
    from_text: str
    to_text: str
    adjusted: bool
    sort: str
    limit: int

    @classmethod
    def parse(cls, params: list[str], query: Query) -> AggsRequest:
        ticker, mult_text, timespan, from_text, to_text = params
        try:
            multiplier = int(mult_text)
        except ValueError:
            raise bad_request(f"multiplier must be an integer, got {mult_text!r}") from None
        if timespan not in UNIT_SECONDS:
            raise bad_request(
                f"timespan {timespan!r} is not supported by the sandbox (minute, hour, day)"
            )
        if multiplier < 1 or (timespan != "day" and multiplier * UNIT_SECONDS[timespan] > 86400):
            raise bad_request("multiplier must be >= 1 and minute/hour windows at most a day")
        adjusted = query_bool(query, "adjusted", True)
        sort = query.get("sort") or "asc"
        if sort not in ("asc", "desc"):
            raise bad_request(f"sort must be asc or desc, got {sort!r}")
        limit = min(query_int(query, "limit", 5000, 1, 10**9), 50000)
        return cls(ticker, multiplier, timespan, from_text, to_text, adjusted, sort, limit)

    def next_url(self, base_url: str, which: str, value: int) -> str:
        """The real shape: the new bound in the path, the query inside an opaque cursor."""
        new_from = value if which == "from" else self.from_text
        new_to = value if which == "to" else self.to_text
        q = {"adjusted": str(self.adjusted).lower(), "sort": self.sort, "limit": str(self.limit)}
        return (
            f"{base_url}/v2/aggs/ticker/{quote(self.ticker, safe='.')}/range/"
            f"{self.multiplier}/{self.timespan}/{new_from}/{new_to}?cursor={encode_cursor(q, 0)}"
        )


def aggs(view: MarketView, params: list[str], query: Query) -> Body:
    query, _ = decode_cursor(query)
    request = AggsRequest.parse(params, query)
    ticker, sort = request.ticker, request.sort
    from_ns, from_day = _bound(request.from_text, "from", end=False)
    to_ns, to_day = _bound(request.to_text, "to", end=True)
    now = view.clock()
    today = new_york_date(now)
    view.check_day(from_day, today)
    body: Body = {
        "ticker": ticker,
        "queryCount": 0,
        "resultsCount": 0,
        "adjusted": request.adjusted,
        "status": "OK",
        "request_id": request_id(),
    }
    sessions = view.trading_sessions(ticker, from_day, min(to_day, today), today)
    if sort == "desc":
        sessions.reverse()
    base = _base_bars(view, ticker, request.timespan, sessions, now, today, request.limit)
    base = base[(base["window_start"] >= from_ns) & (base["window_start"] <= to_ns)]
    if base.empty:
        return body
    if request.adjusted:
        base = view.adjust_ticker(base, ticker, today)
    base = base.assign(key=_window_keys(base, request.timespan, request.multiplier, from_day))
    base = base.sort_values("window_start", ascending=sort == "asc", ignore_index=True)
    base, next_bound = _cut(base, request.limit, sort)
    results = _aggregate(base, sort)
    body.update(queryCount=len(base), resultsCount=len(results), count=len(results))
    body["results"] = results
    if next_bound is not None:
        body["next_url"] = request.next_url(view.base_url, *next_bound)
    return body


def _cut(base: pd.DataFrame, limit: int, sort: str) -> tuple[pd.DataFrame, tuple[str, int] | None]:
    """At most `limit` base bars without splitting a window, and where the next page starts
    ("from"/"to", Unix ms) when bars are left."""
    if len(base) <= limit:
        return base, None
    cut = base["key"].iloc[limit]
    kept = base.iloc[:limit]
    kept = kept[kept["key"] != cut]
    if kept.empty:  # one window holds more than `limit` base bars: serve it whole
        kept = base[base["key"] == cut]
    if len(kept) < len(base) and sort == "asc":
        return kept, ("from", int(base["key"].iloc[len(kept)]) // NS_PER_MS)
    if len(kept) < len(base):
        return kept, ("to", int(kept["key"].iloc[-1]) // NS_PER_MS - 1)
    return kept, None


def _bound(text: str, name: str, *, end: bool) -> tuple[int, dt.date]:
    """A from/to path value (YYYY-MM-DD or Unix ms) as (ns bound inclusive, NY date)."""
    if text.isdigit():
        ns = int(text) * NS_PER_MS
        if end:
            ns += NS_PER_MS - 1
        return ns, dt.datetime.fromtimestamp(ns / 1e9, NEW_YORK).date()
    day = parse_date(text, name)
    if end:
        return midnight_ns(day + dt.timedelta(days=1)) - 1, day
    return midnight_ns(day), day


def _base_bars(
    view: MarketView,
    ticker: str,
    timespan: str,
    sessions: list[dt.date],
    now: dt.datetime,
    today: dt.date,
    limit: int,
) -> pd.DataFrame:
    """RAW base bars (day or minute) of `ticker` over `sessions`, complete by `now`, with a
    `session` column."""
    if timespan == "day":
        frames = _day_base(view, ticker, sessions, now, today)
    else:
        frames = _minute_base(view, ticker, sessions, now, limit)
    frames = [f for f in frames if len(f)]
    if not frames:
        return _EMPTY_BASE
    return pd.concat(frames, ignore_index=True)


def _day_base(
    view: MarketView, ticker: str, sessions: list[dt.date], now: dt.datetime, today: dt.date
) -> list[pd.DataFrame]:
    frames: list[pd.DataFrame] = []
    rows = []
    for session in sessions:
        if not view.day_visible(session, now, today):
            continue
        if view.faults.alters(routes.AGGS, "day_aggs_v1", session):
            bars = view.day_bars(session)
            bars = view.faults.apply_rest(routes.AGGS, session, bars[bars["ticker"] == ticker])
            frames.append(bars[_BASE_COLUMNS].assign(session=session))
            continue
        row = view.day_row(session, ticker)
        if row is not None:
            rows.append((*row, session))
    frames.append(pd.DataFrame(rows, columns=[*_BASE_COLUMNS, "session"]))
    return frames


def _minute_base(
    view: MarketView, ticker: str, sessions: list[dt.date], now: dt.datetime, limit: int
) -> list[pd.DataFrame]:
    """Minute sessions are read in order until `limit` is passed, plus one more session so
    that the window holding the cut is complete (windows stay within a day)."""
    frames: list[pd.DataFrame] = []
    now_ns, count, extra = unix_ns(now), 0, None
    for session in sessions:
        bars = view.minute_bars(session, ticker)
        bars = bars[bars["window_start"] + 60_000_000_000 <= now_ns]
        bars = view.faults.apply_rest(routes.AGGS, session, bars)
        frames.append(bars[_BASE_COLUMNS].assign(session=session))
        count += len(bars)
        if extra is not None:
            break
        if count > limit:
            extra = session
    return frames


def _window_keys(
    base: pd.DataFrame, timespan: str, multiplier: int, from_day: dt.date
) -> np.ndarray:
    """Window start (ns) of each base bar: minute/hour windows aligned to New York midnight,
    day windows of `multiplier` calendar days counted from the request's first day."""
    sessions = base["session"].tolist()
    if timespan == "day":
        starts = {
            s: midnight_ns(
                from_day + dt.timedelta(days=(s - from_day).days // multiplier * multiplier)
            )
            for s in set(sessions)
        }
        return np.array([starts[s] for s in sessions], dtype="int64")
    midnights = {s: midnight_ns(s) for s in set(sessions)}
    midnight = np.array([midnights[s] for s in sessions], dtype="int64")
    width = multiplier * UNIT_SECONDS[timespan] * 1_000_000_000
    return midnight + (base["window_start"].to_numpy(dtype="int64") - midnight) // width * width


def _aggregate(base: pd.DataFrame, sort: str) -> list[dict[str, Any]]:
    """Base bars (in `sort` order) to result windows."""
    grouped = base.groupby("key", sort=True)
    size = grouped.size()
    if (size == 1).all():
        frame = base.sort_values("key", ascending=sort == "asc")
        out = frame.rename(columns={"key": "t"})
    else:
        ordered = base.sort_values(["key", "window_start"])
        g = ordered.groupby("key", sort=True)
        volume = g["volume"].sum()
        weighted = (ordered["vwap"] * ordered["volume"]).groupby(ordered["key"]).sum()
        vwap = (weighted / volume.where(volume != 0)).where(size > 1, g["vwap"].first())
        out = pd.DataFrame(
            {
                "open": g["open"].first(),
                "high": g["high"].max(),
                "low": g["low"].min(),
                "close": g["close"].last(),
                "volume": volume,
                "vwap": vwap,
                "transactions": g["transactions"].sum(),
            }
        )
        out["t"] = out.index.to_numpy()
        out = out.sort_values("t", ascending=sort == "asc")
    results = []
    for v, vw, o, c, h, low, t, n in zip(
        *(out[c].tolist() for c in ("volume", "vwap", "open", "close", "high", "low")),
        out["t"].tolist(),
        out["transactions"].tolist(),
        strict=True,
    ):
        row: dict[str, Any] = {"v": v}
        if vw == vw:
            row["vw"] = vw
        row.update({"o": o, "c": c, "h": h, "l": low, "t": int(t) // NS_PER_MS, "n": int(n)})
        results.append(row)
    return results

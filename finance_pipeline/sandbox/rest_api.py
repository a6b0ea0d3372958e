"""The sandbox's Polygon REST API: paths, JSON shapes, auth, plans, rate limit and errors of
`reference/polygon.md`, served on 127.0.0.1 so the unmodified `polygon.RESTClient(base=...)`
works against it.

Conventions chosen where Polygon leaves room (all relative to the sandbox clock `now`; "today"
is its New York date):
- Data appears when it is complete: a session's day bar (grouped daily, day aggs) once the
  session has closed, a minute bar once its minute has ended. Before that: 200 with no results.
- Grouped daily `t` is 16:00 New York of the session, half days included (as Polygon does).
- `adjusted=true` (the default) divides prices by, and multiplies volumes by, the product of the
  splits executed after the bar's session up to today (`Market.split_factor`); no rounding, so
  adjusted * factor gives back the raw value up to float error.
- A date after today: 403 NOT_AUTHORIZED "Your plan doesn't include this data timeframe".
  Free plan: today's date (grouped daily, or aggregates starting today) is 403 "Attempted to
  request today's data before end of day" for the whole New York day; ranges that include
  today stop at yesterday; history older than 2 years is 403 as well; the snapshot is 403.
- Rate limit: at most L admitted requests per key in any sliding window of W seconds; a request
  past it gets 429 (not admitted, so it does not use the window). Requests failing auth are not
  rate limited. A `Retry-After` header is sent only with `send_retry_after=True` (Polygon
  documents none).
- Reference endpoints list every split and dividend of the market (as if all were announced
  before the sandbox's range); `/v3/reference/splits` keeps the market's duplicated split row
  (a real vendor defect), `/stocks/v1/splits` is de-duplicated.
- `historical_adjustment_factor` (v1): for a split, 1 / (product of split ratios executed on or
  after its execution date, up to max(today, execution date)); for a dividend, the product over
  it and later dividends (up to today) of (1 - cash / previous session's raw close).
- Unsupported timespans (week, month, quarter, year, second) are 400.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import math
import select
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import numpy as np
import pandas as pd

from finance_pipeline.calendar import (
    NEW_YORK,
    SessionError,
    is_session,
    new_york_date,
    previous_session,
    session_close,
    session_open,
    sessions_between,
    xnys,
)
from finance_pipeline.sandbox.faults import Faults, TransportFault

logger = logging.getLogger(__name__)

MSG_NO_KEY = "API Key was not provided"
MSG_UNKNOWN_KEY = "Unknown API Key"
MSG_RATE_LIMIT = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://polygon.io/pricing"
)
MSG_NOT_ENTITLED = (
    "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"
)
MSG_TIMEFRAME = "Your plan doesn't include this data timeframe"
MSG_TODAY = "Attempted to request today's data before end of day"
FREE_HISTORY_DAYS = 730
NS_PER_MS = 1_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
BAR_COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "transactions", "window_start"]


# ---- counters ----------------------------------------------------------------------------
class RequestRecord(NamedTuple):
    """One REST request: time.monotonic() when the rate limiter admitted or refused it (the
    arrival time for requests failing auth), endpoint name, HTTP status sent (0 when a hung
    request was dropped without an answer) and the path (no query string)."""

    monotonic: float
    endpoint: str
    status: int
    path: str


class RestCounters:
    """Thread-safe per-endpoint and per-status counts plus the request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.log: list[RequestRecord] = []

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.by_endpoint[record.endpoint] += 1
            self.by_status[record.status] += 1
            self.log.append(record)

    def snapshot(self) -> tuple[Counter[str], Counter[int], tuple[RequestRecord, ...]]:
        with self._lock:
            return Counter(self.by_endpoint), Counter(self.by_status), tuple(self.log)

    def reset(self) -> None:
        with self._lock:
            self.by_endpoint.clear()
            self.by_status.clear()
            self.log.clear()


class SlidingWindowLimiter:
    """At most `limit` admitted requests per key in any window of `window_seconds`."""

    def __init__(self, limit: int | None, window_seconds: float) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"rate limit must be >= 1 request per window, got {limit}")
        if window_seconds <= 0:
            raise ValueError(f"rate limit window must be > 0 seconds, got {window_seconds}")
        self.limit = limit
        self.window = float(window_seconds)
        self._lock = threading.Lock()
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str) -> tuple[float, float | None]:
        """(time.monotonic() of the decision, None if admitted else seconds until a slot
        frees). The time is read under the lock, so admitted stamps are in order."""
        if self.limit is None:
            return time.monotonic(), None
        with self._lock:
            now = time.monotonic()
            times = self._admitted.setdefault(key, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return now, max(0.0, times[0] + self.window - now)
            times.append(now)
            return now, None

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()


# ---- configuration and responses ---------------------------------------------------------
@dataclass(frozen=True)
class RestConfig:
    api_key: str
    plan: str  # "paid" | "free"
    rate_limit: int | None
    window_seconds: float
    send_retry_after: bool
    control_token: str


@dataclass
class Response:
    status: int
    body: Any  # JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any], retry_after: float | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.retry_after = retry_after


def _request_id() -> str:
    return uuid.uuid4().hex


def error_body(message: str, status: str = "ERROR") -> dict[str, Any]:
    return {"status": status, "request_id": _request_id(), "error": message}


def bad_request(message: str) -> HttpError:
    return HttpError(400, error_body(message))


def not_authorized(message: str) -> HttpError:
    return HttpError(
        403, {"status": "NOT_AUTHORIZED", "request_id": _request_id(), "message": message}
    )


def _bool(query: dict[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise bad_request(f"{name} must be true or false, got {value!r}")


def _int(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {value!r}") from None
    if not lo <= number <= hi:
        raise bad_request(f"{name} must be between {lo} and {hi}, got {number}")
    return number


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name} must be a date in YYYY-MM-DD form, got {value!r}") from None


def _ns(moment: dt.datetime) -> int:
    """Exact Unix nanoseconds of an aware moment (float seconds would lose ~100 ns)."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def _midnight_ns(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), NEW_YORK).timestamp()) * 1_000_000_000


def _ms_at(day: dt.date, clock: dt.time) -> int:
    return int(dt.datetime.combine(day, clock, NEW_YORK).timestamp() * 1000)


def _num(value: float) -> float | int:
    """Whole floats as ints (split ratios, frequencies), like Polygon's JSON."""
    return int(value) if float(value).is_integer() else float(value)


# ---- the application ---------------------------------------------------------------------
_GROUPED_PREFIX = ("v2", "aggs", "grouped", "locale", "us", "market", "stocks")
_FIXED_PATHS = {
    ("v2", "snapshot", "locale", "us", "markets", "stocks", "tickers"): "snapshot",
    ("v3", "reference", "tickers"): "tickers",
    ("v3", "reference", "splits"): "splits",
    ("v3", "reference", "dividends"): "dividends",
    ("stocks", "v1", "splits"): "splits_v1",
    ("stocks", "v1", "dividends"): "dividends_v1",
    ("v1", "marketstatus", "now"): "market_status",
    ("v1", "marketstatus", "upcoming"): "market_holidays",
}


class RestApi:
    """Routing and every endpoint; no sockets (the server below feeds it)."""

    def __init__(
        self,
        market: Any,
        faults: Faults,
        clock: Callable[[], dt.datetime],
        config: RestConfig,
        ensure_flat_files: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        self.market = market
        self.faults = faults
        self.clock = clock
        self.config = config
        self.ensure_flat_files = ensure_flat_files
        self.limiter = SlidingWindowLimiter(config.rate_limit, config.window_seconds)
        self.counters = RestCounters()
        self.base_url = ""  # set by the server once bound
        self._sessions = set(market.sessions)
        self._cache_lock = threading.Lock()
        self._day_cache: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()
        self._minute_cache: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()  # whole market
        self._ticker_cache: OrderedDict[tuple[dt.date, str], pd.DataFrame] = OrderedDict()
        self._row_cache: OrderedDict[dt.date, tuple] = OrderedDict()
        self._factor_cache: dict[tuple[str, dt.date, dt.date], float] = {}
        splits = market.splits()
        self._split_tickers = frozenset(splits["ticker"])
        listings = market.listings()
        self._otc = frozenset(listings.loc[listings["market"] == "otc", "ticker"])
        # ticker -> (first session it can trade, first date it no longer trades or None)
        self._listed: dict[str, tuple[dt.date, dt.date | None]] = {
            t: (first, None if gone is None or pd.isna(gone) else gone)
            for t, first, gone in zip(
                listings["ticker"], listings["list_date"], listings["delisted_date"], strict=True
            )
        }

    # -- request entry ---------------------------------------------------------------------
    def route(self, path: str) -> tuple[str, list[str]]:
        """(endpoint name, path parameters); endpoint "unknown" for anything else."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) == 8 and tuple(parts[:7]) == _GROUPED_PREFIX:
            return "grouped_daily", parts[7:]
        if len(parts) == 9 and parts[:3] == ["v2", "aggs", "ticker"] and parts[4] == "range":
            return "aggs", [parts[3], *parts[5:]]
        return _FIXED_PATHS.get(tuple(parts), "unknown"), []

    def api_key_of(self, headers: dict[str, str], query: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return query.get("apiKey") or None

    def check_auth(self, key: str | None) -> str:
        if key is None:
            raise HttpError(401, error_body(MSG_NO_KEY))
        if key != self.config.api_key:
            raise HttpError(401, error_body(MSG_UNKNOWN_KEY))
        return key

    def rate_limited(self, retry_after: float) -> HttpError:
        return HttpError(429, error_body(MSG_RATE_LIMIT), retry_after)

    def dispatch(self, endpoint: str, params: list[str], query: dict[str, str]) -> Response:
        handler = getattr(self, f"_ep_{endpoint}", None)
        if handler is None:
            raise HttpError(
                404,
                {"status": "NOT_FOUND", "request_id": _request_id(), "message": "Not Found"},
            )
        return Response(200, handler(params, query))

    def transport_fault(self, endpoint: str) -> TransportFault | None:
        return self.faults.take_transport(endpoint)

    # -- time and plan -----------------------------------------------------------------------
    def _today(self) -> dt.date:
        return new_york_date(self.clock())

    def _check_day(self, day: dt.date, today: dt.date) -> None:
        """Plan gating of a requested date (grouped daily date, or an aggregates start)."""
        if day > today:
            raise not_authorized(MSG_TIMEFRAME)
        if self.config.plan == "free":
            if day == today:
                raise not_authorized(MSG_TODAY)
            if day < today - dt.timedelta(days=FREE_HISTORY_DAYS):
                raise not_authorized(MSG_TIMEFRAME)

    def _day_visible(self, session: dt.date, now: dt.datetime, today: dt.date) -> bool:
        if session not in self._sessions:
            return False
        if self.config.plan == "free" and session >= today:
            return False
        return session_close(session) <= now

    # -- market data with caches, restatements and faults ------------------------------------
    def day_bars(self, session: dt.date) -> pd.DataFrame:
        """RAW day bars of a session as every path serves them (restatements applied)."""
        frame = self._cached(self._day_cache, session, 256, lambda: self.market.day_bars(session))
        return self.faults.restated("day_aggs_v1", session, frame)

    def minute_bars(self, session: dt.date, ticker: str | None) -> pd.DataFrame:
        """RAW minute bars of a session (one ticker, or all), restatements applied."""
        if ticker is None:
            frame = self._cached(
                self._minute_cache, session, 2, lambda: self.market.minute_bars(session)
            )
        else:
            frame = self._cached(
                self._ticker_cache,
                (session, ticker),
                1024,
                lambda: self.market.minute_bars(session, [ticker]),
            )
        return self.faults.restated("minute_aggs_v1", session, frame)

    def _cached(self, cache: OrderedDict, key: Any, size: int, load: Callable) -> Any:
        with self._cache_lock:
            frame = cache.get(key)
            if frame is not None:
                cache.move_to_end(key)
                return frame
        frame = load()
        with self._cache_lock:
            cache[key] = frame
            while len(cache) > size:
                cache.popitem(last=False)
        return frame

    def _factor(self, ticker: str, session: dt.date, as_of: dt.date) -> float:
        key = (ticker, session, as_of)
        factor = self._factor_cache.get(key)
        if factor is None:
            factor = float(self.market.split_factor(ticker, session, as_of))
            self._factor_cache[key] = factor
        return factor

    def _factors(self, tickers: pd.Series, session: dt.date, as_of: dt.date) -> np.ndarray:
        factors = np.ones(len(tickers))
        for i in np.flatnonzero(tickers.isin(self._split_tickers).to_numpy()):
            factors[i] = self._factor(tickers.iloc[i], session, as_of)
        return factors

    def _adjust(self, frame: pd.DataFrame, session: dt.date, as_of: dt.date) -> pd.DataFrame:
        factors = self._factors(frame["ticker"], session, as_of)
        if (factors == 1.0).all():
            return frame
        frame = frame.copy()
        for column in ("open", "high", "low", "close", "vwap"):
            if column in frame.columns:
                frame[column] = frame[column].to_numpy() / factors
        frame["volume"] = frame["volume"].to_numpy() * factors
        return frame

    # -- endpoints ---------------------------------------------------------------------------
    def _ep_grouped_daily(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        session = _date(params[0], "date")
        adjusted = _bool(query, "adjusted", True)
        include_otc = _bool(query, "include_otc", False)
        now = self.clock()
        today = new_york_date(now)
        self._check_day(session, today)
        body: dict[str, Any] = {
            "queryCount": 0,
            "resultsCount": 0,
            "adjusted": adjusted,
            "status": "OK",
            "request_id": _request_id(),
        }
        if not self._day_visible(session, now, today) or self.faults.is_grouped_daily_empty(
            session
        ):
            return body
        frame = self.day_bars(session)
        if not include_otc:
            frame = frame[~frame["otc"].astype(bool)]
        frame = self.faults.apply_rest("grouped_daily", session, frame)
        if adjusted:
            frame = self._adjust(frame, session, today)
        t_ms = _ms_at(session, dt.time(16, 0))
        results = []
        for ticker, v, vw, o, c, h, low, n, otc in zip(
            frame["ticker"].tolist(),
            frame["volume"].tolist(),
            frame["vwap"].tolist(),
            frame["open"].tolist(),
            frame["close"].tolist(),
            frame["high"].tolist(),
            frame["low"].tolist(),
            frame["transactions"].tolist(),
            frame["otc"].tolist(),
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

    def _ep_aggs(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        ticker, mult_text, timespan, from_text, to_text = params
        try:
            multiplier = int(mult_text)
        except ValueError:
            raise bad_request(f"multiplier must be an integer, got {mult_text!r}") from None
        if timespan not in _UNIT_SECONDS:
            raise bad_request(
                f"timespan {timespan!r} is not supported by the sandbox (minute, hour, day)"
            )
        if multiplier < 1 or (timespan != "day" and multiplier * _UNIT_SECONDS[timespan] > 86400):
            raise bad_request("multiplier must be >= 1 and minute/hour windows at most a day")
        adjusted = _bool(query, "adjusted", True)
        sort = query.get("sort") or "asc"
        if sort not in ("asc", "desc"):
            raise bad_request(f"sort must be asc or desc, got {sort!r}")
        limit = min(_int(query, "limit", 5000, 1, 10**9), 50000)
        from_ns, from_day = self._bound(from_text, "from", end=False)
        to_ns, to_day = self._bound(to_text, "to", end=True)
        now = self.clock()
        today = new_york_date(now)
        self._check_day(from_day, today)
        body: dict[str, Any] = {
            "ticker": ticker,
            "queryCount": 0,
            "resultsCount": 0,
            "adjusted": adjusted,
            "status": "OK",
            "request_id": _request_id(),
        }
        sessions = self._trading_sessions(ticker, from_day, min(to_day, today), today)
        if sort == "desc":
            sessions.reverse()
        base = self._base_bars(ticker, timespan, sessions, now, today, limit)
        base = base[(base["window_start"] >= from_ns) & (base["window_start"] <= to_ns)]
        if base.empty:
            return body
        if adjusted:
            base = self._adjust_rows(base, ticker, today)
        base = base.assign(key=_window_keys(base, timespan, multiplier, from_day))
        base = base.sort_values("window_start", ascending=sort == "asc", ignore_index=True)
        next_bound = None
        if len(base) > limit:
            cut = base["key"].iloc[limit]
            kept = base.iloc[:limit]
            kept = kept[kept["key"] != cut]
            if kept.empty:  # one window holds more than `limit` base bars: serve it whole
                kept = base[base["key"] == cut]
            if len(kept) < len(base) and sort == "asc":
                next_bound = ("from", int(base["key"].iloc[len(kept)]) // NS_PER_MS)
            elif len(kept) < len(base):
                next_bound = ("to", int(kept["key"].iloc[-1]) // NS_PER_MS - 1)
            base = kept
        results = _aggregate(base, sort)
        body.update(queryCount=len(base), resultsCount=len(results), count=len(results))
        body["results"] = results
        if next_bound is not None:
            which, value = next_bound
            new_from = value if which == "from" else from_text
            new_to = value if which == "to" else to_text
            q = {"adjusted": str(adjusted).lower(), "sort": sort, "limit": str(limit)}
            body["next_url"] = (
                f"{self.base_url}/v2/aggs/ticker/{quote(ticker, safe='.')}/range/"
                f"{multiplier}/{timespan}/{new_from}/{new_to}?{urlencode(q)}"
            )
        return body

    def _bound(self, text: str, name: str, *, end: bool) -> tuple[int, dt.date]:
        """A from/to path value (YYYY-MM-DD or Unix ms) as (ns bound inclusive, NY date)."""
        if text.isdigit():
            ns = int(text) * NS_PER_MS
            if end:
                ns += NS_PER_MS - 1
            return ns, dt.datetime.fromtimestamp(ns / 1e9, NEW_YORK).date()
        day = _date(text, name)
        if end:
            return _midnight_ns(day + dt.timedelta(days=1)) - 1, day
        return _midnight_ns(day), day

    def _trading_sessions(
        self, ticker: str, start: dt.date, end: dt.date, today: dt.date
    ) -> list[dt.date]:
        """Market sessions in [start, end] on which `ticker` was listed (free plan: < today)."""
        listed = self._listed.get(ticker)
        if listed is None:
            return []  # never generate a whole session for a ticker that does not exist
        first, gone = listed
        last = end if self.config.plan == "paid" else min(end, today - dt.timedelta(days=1))
        return [
            s
            for s in sessions_between(max(start, first), last)
            if s in self._sessions and (gone is None or s < gone)
        ]

    def _base_bars(
        self,
        ticker: str,
        timespan: str,
        sessions: list[dt.date],
        now: dt.datetime,
        today: dt.date,
        limit: int,
    ) -> pd.DataFrame:
        """RAW base bars (day or minute) of `ticker` over `sessions`, complete by `now`, with a
        `session` column. Minute sessions are read in order until `limit` is passed, plus one
        more session so that the window holding the cut is complete (windows stay within a
        day)."""
        frames: list[pd.DataFrame] = []
        if timespan == "day":
            rows = []
            for session in sessions:
                if not self._day_visible(session, now, today):
                    continue
                if self.faults.alters("aggs", "day_aggs_v1", session):
                    bars = self.day_bars(session)
                    bars = self.faults.apply_rest("aggs", session, bars[bars["ticker"] == ticker])
                    frames.append(bars[_BASE_COLUMNS].assign(session=session))
                    continue
                row = self._day_row(session, ticker)
                if row is not None:
                    rows.append((*row, session))
            frames.append(pd.DataFrame(rows, columns=[*_BASE_COLUMNS, "session"]))
        else:
            now_ns, count, extra = _ns(now), 0, None
            for session in sessions:
                bars = self.minute_bars(session, ticker)
                bars = bars[bars["window_start"] + 60_000_000_000 <= now_ns]
                bars = self.faults.apply_rest("aggs", session, bars)
                frames.append(bars[_BASE_COLUMNS].assign(session=session))
                count += len(bars)
                if extra is not None:
                    break
                if count > limit:
                    extra = session
        frames = [f for f in frames if len(f)]
        if not frames:
            return _EMPTY_BASE
        return pd.concat(frames, ignore_index=True)

    def _day_row(self, session: dt.date, ticker: str) -> tuple | None:
        """One ticker's raw day bar as a tuple of _BASE_COLUMNS (a dict lookup, no pandas)."""
        index, columns = self._cached(
            self._row_cache, session, 256, lambda: self._row_index(session)
        )
        i = index.get(ticker)
        return None if i is None else (ticker, *(column[i] for column in columns))

    def _row_index(self, session: dt.date) -> tuple[dict[str, int], list[np.ndarray]]:
        frame = self._cached(self._day_cache, session, 256, lambda: self.market.day_bars(session))
        index = {t: i for i, t in enumerate(frame["ticker"].tolist())}
        return index, [frame[c].to_numpy() for c in BAR_COLUMNS]  # views, not copies

    def _adjust_rows(self, frame: pd.DataFrame, ticker: str, as_of: dt.date) -> pd.DataFrame:
        """Split-adjust one ticker's bars; each row by the factor of its own session."""
        if ticker not in self._split_tickers:
            return frame
        factors = np.array([self._factor(ticker, s, as_of) for s in frame["session"].tolist()])
        if (factors == 1.0).all():
            return frame
        frame = frame.copy()
        for column in ("open", "high", "low", "close", "vwap"):
            frame[column] = frame[column].to_numpy() / factors
        frame["volume"] = frame["volume"].to_numpy() * factors
        return frame

    def _ep_snapshot(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        if self.config.plan == "free":
            raise not_authorized(MSG_NOT_ENTITLED)
        include_otc = _bool(query, "include_otc", False)
        wanted = {t for t in (query.get("tickers") or "").split(",") if t}
        now = self.clock()
        today = new_york_date(now)
        now_ns = _ns(now)
        prev = previous_session(today)
        prev_day = self.day_bars(prev) if prev in self._sessions else _EMPTY_BARS
        if today in self._sessions:
            minutes = self.minute_bars(today, None)
            minutes = minutes[minutes["window_start"] + 60_000_000_000 <= now_ns]
        else:
            minutes = _EMPTY_BARS
        listings = self.market.tickers_as_of(today, True)
        tickers = listings["ticker"]
        if not include_otc:
            tickers = tickers[~tickers.isin(self._otc)]
        if wanted:
            tickers = tickers[tickers.isin(wanted)]
        prev_by = {r["ticker"]: r for r in prev_day.to_dict("records")}
        groups = {t: g for t, g in minutes.groupby("ticker", sort=False)} if len(minutes) else {}
        out = []
        for ticker in tickers.tolist():
            p = prev_by.get(ticker)
            g = groups.get(ticker)
            day = _day_summary(g)
            item: dict[str, Any] = {
                "ticker": ticker,
                "day": day,
                "prevDay": _bar_json(p) if p else _ZERO_BAR,
                "updated": now_ns,
                "todaysChange": 0.0,
                "todaysChangePerc": 0.0,
            }
            if g is not None and p:
                change = day["c"] - p["close"]
                item["todaysChange"] = change
                item["todaysChangePerc"] = change / p["close"] * 100 if p["close"] else 0.0
            if g is not None:
                last = g.iloc[-1]
                item["min"] = {
                    "av": float(g["volume"].sum()),
                    "t": int(last["window_start"]) // NS_PER_MS,
                    "n": int(last["transactions"]),
                    "o": float(last["open"]),
                    "h": float(last["high"]),
                    "l": float(last["low"]),
                    "c": float(last["close"]),
                    "v": float(last["volume"]),
                    "vw": float(last["vwap"]),
                }
            if ticker in self._otc:
                item["otc"] = True
            out.append(item)
        return {"status": "OK", "request_id": _request_id(), "count": len(out), "tickers": out}

    # -- reference endpoints -----------------------------------------------------------------
    def _ep_tickers(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        query, offset = self._decode_cursor(query)
        limit = _int(query, "limit", 100, 1, 1000)
        today = self._today()
        day = _date(query["date"], "date") if query.get("date") else today
        active = _bool(query, "active", True)
        frame = self.market.tickers_as_of(day, active)
        frame = frame.assign(last_updated_utc=f"{day.isoformat()}T00:00:00Z")
        for name, column in (
            ("market", "market"),
            ("type", "type"),
            ("exchange", "primary_exchange"),
            ("cik", "cik"),
        ):
            if query.get(name):
                frame = frame[frame[column].astype(str) == query[name]]
        if query.get("search"):
            needle = query["search"].lower()
            hit = frame["ticker"].str.lower().str.contains(needle, regex=False) | frame[
                "name"
            ].str.lower().str.contains(needle, regex=False)
            frame = frame[hit]
        frame = _filter(frame, query, "ticker", str)
        sort = query.get("sort") or "ticker"
        if sort not in _TICKER_FIELDS:
            raise bad_request(f"sort must be one of {', '.join(_TICKER_FIELDS)}, got {sort!r}")
        order = query.get("order") or "asc"
        frame = _sort(frame, [(sort, order), ("ticker", order)])
        fields = [f for f in _TICKER_FIELDS if f != "delisted_utc"]

        def render(row: dict[str, Any]) -> dict[str, Any]:
            out = {f: row[f] for f in fields if _present(row.get(f))}
            out["active"] = bool(row["active"])
            if _present(row.get("delisted_utc")):
                out["delisted_utc"] = row["delisted_utc"]
            return out

        cursor_query = {**query, "date": day.isoformat()}
        return self._page("/v3/reference/tickers", frame, render, cursor_query, offset, limit)

    def _splits_frame(self) -> pd.DataFrame:
        frame = self.market.splits().copy()
        frame["execution_date"] = frame["execution_date"].map(lambda d: d.isoformat())
        frame["id"] = frame["id"].astype(str)
        return frame

    def _ep_splits(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        query, offset = self._decode_cursor(query)
        limit = _int(query, "limit", 10, 1, 1000)
        frame = self._splits_frame()
        frame = _filter(frame, query, "ticker", str)
        frame = _filter(frame, query, "execution_date", str)
        if query.get("reverse_split"):
            reverse = _bool(query, "reverse_split", False)
            frame = frame[(frame["split_from"] > frame["split_to"]) == reverse]
        frame = _sort(
            frame,
            [
                (query.get("sort") or "execution_date", query.get("order") or "desc"),
                ("ticker", "asc"),
            ],
        )

        def render(row: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": row["id"],
                "execution_date": row["execution_date"],
                "split_from": _num(row["split_from"]),
                "split_to": _num(row["split_to"]),
                "ticker": row["ticker"],
            }

        return self._page("/v3/reference/splits", frame, render, query, offset, limit)

    def _ep_splits_v1(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        query, offset = self._decode_cursor(query)
        limit = _int(query, "limit", 100, 1, 5000)
        today = self._today()
        frame = self._splits_frame().drop_duplicates(subset=["ticker", "execution_date"])
        frame = frame.assign(
            adjustment_type=np.where(
                frame["split_to"] > frame["split_from"], "forward_split", "reverse_split"
            )
        )
        frame = _filter(frame, query, "ticker", str)
        frame = _filter(frame, query, "execution_date", str)
        if query.get("adjustment_type"):
            frame = frame[frame["adjustment_type"] == query["adjustment_type"]]
        frame = _sort(frame, _v1_sort(query.get("sort"), "execution_date"))

        def render(row: dict[str, Any]) -> dict[str, Any]:
            executed = dt.date.fromisoformat(row["execution_date"])
            as_of = max(today, executed)
            before = executed - dt.timedelta(days=1)
            factor = float(self.market.split_factor(row["ticker"], before, as_of))
            return {
                "id": row["id"],
                "ticker": row["ticker"],
                "execution_date": row["execution_date"],
                "split_from": _num(row["split_from"]),
                "split_to": _num(row["split_to"]),
                "adjustment_type": row["adjustment_type"],
                "historical_adjustment_factor": 1.0 / factor,
            }

        return self._page("/stocks/v1/splits", frame, render, query, offset, limit)

    def _dividends_frame(self) -> pd.DataFrame:
        frame = self.market.dividends().copy()
        for column in ("declaration_date", "ex_dividend_date", "record_date", "pay_date"):
            frame[column] = frame[column].map(lambda d: None if d is None else d.isoformat())
        frame["id"] = frame["id"].astype(str)
        return frame

    def _ep_dividends(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        query, offset = self._decode_cursor(query)
        limit = _int(query, "limit", 10, 1, 1000)
        frame = self._dividends_frame()
        frame = _filter(frame, query, "ticker", str)
        for column in ("ex_dividend_date", "record_date", "declaration_date", "pay_date"):
            frame = _filter(frame, query, column, str)
        frame = _filter(frame, query, "cash_amount", float)
        frame = _filter(frame, query, "frequency", int)
        if query.get("dividend_type"):
            frame = frame[frame["dividend_type"] == query["dividend_type"]]
        frame = _sort(
            frame,
            [
                (query.get("sort") or "ex_dividend_date", query.get("order") or "desc"),
                ("ticker", "asc"),
            ],
        )

        def render(row: dict[str, Any]) -> dict[str, Any]:
            out = {k: row[k] for k in _DIVIDEND_FIELDS if _present(row.get(k))}
            out["cash_amount"] = float(row["cash_amount"])
            out["frequency"] = int(row["frequency"])
            return out

        return self._page("/v3/reference/dividends", frame, render, query, offset, limit)

    def _ep_dividends_v1(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        query, offset = self._decode_cursor(query)
        limit = _int(query, "limit", 100, 1, 5000)
        today = self._today()
        frame = self._dividends_frame()
        frame = frame.assign(
            distribution_type=np.where(frame["frequency"] > 0, "recurring", "special")
        )
        factors = self._dividend_factors(frame, today)
        frame = _filter(frame, query, "ticker", str)
        frame = _filter(frame, query, "ex_dividend_date", str)
        frame = _filter(frame, query, "frequency", int)
        if query.get("distribution_type"):
            frame = frame[frame["distribution_type"] == query["distribution_type"]]
        frame = _sort(frame, _v1_sort(query.get("sort"), "ex_dividend_date"))

        def render(row: dict[str, Any]) -> dict[str, Any]:
            out = {k: row[k] for k in _DIVIDEND_FIELDS if _present(row.get(k))}
            out.pop("dividend_type", None)
            ex = dt.date.fromisoformat(row["ex_dividend_date"])
            split = float(self.market.split_factor(row["ticker"], ex, max(today, ex)))
            out.update(
                cash_amount=float(row["cash_amount"]),
                frequency=int(row["frequency"]),
                distribution_type=row["distribution_type"],
                historical_adjustment_factor=factors.get(row["id"], 1.0),
                split_adjusted_cash_amount=float(row["cash_amount"]) / split,
            )
            return out

        return self._page("/stocks/v1/dividends", frame, render, query, offset, limit)

    def _dividend_factors(self, frame: pd.DataFrame, today: dt.date) -> dict[str, float]:
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
                if prev in self._sessions:
                    bars = self.day_bars(prev)
                    close = bars.loc[bars["ticker"] == row["ticker"], "close"]
                    if len(close) and close.iloc[0] > 0:
                        factor = 1.0 - float(row["cash_amount"]) / float(close.iloc[0])
            own[row["id"]] = (row["ticker"], row["ex_dividend_date"], factor)
        result = {}
        for div_id, (ticker, ex, _) in own.items():
            result[div_id] = math.prod(f for t, e, f in own.values() if t == ticker and e >= ex)
        return result

    def _ep_market_status(self, params: list[str], query: dict[str, str]) -> dict[str, Any]:
        now = self.clock()
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

    def _ep_market_holidays(self, params: list[str], query: dict[str, str]) -> list[dict]:
        today = self._today()
        return upcoming_holidays(today, today + dt.timedelta(days=365))

    # -- pagination --------------------------------------------------------------------------
    def _decode_cursor(self, query: dict[str, str]) -> tuple[dict[str, str], int]:
        cursor = query.get("cursor")
        clean = {k: v for k, v in query.items() if k not in ("cursor", "apiKey")}
        if not cursor:
            return clean, 0
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            state = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return dict(state["q"]), int(state["o"])
        except (ValueError, KeyError, TypeError):
            raise bad_request("cursor is not valid; use the next_url of a previous page") from None

    def _page(
        self,
        path: str,
        frame: pd.DataFrame,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        query: dict[str, str],
        offset: int,
        limit: int,
    ) -> dict[str, Any]:
        page = frame.iloc[offset : offset + limit]
        results = [render(row) for row in page.to_dict("records")]
        body: dict[str, Any] = {
            "results": results,
            "status": "OK",
            "request_id": _request_id(),
            "count": len(results),
        }
        if offset + limit < len(frame):
            state = {"q": query, "o": offset + limit}
            token = base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode())
            body["next_url"] = f"{self.base_url}{path}?cursor={token.decode().rstrip('=')}"
        return body


_TICKER_FIELDS = (
    "ticker",
    "name",
    "market",
    "locale",
    "primary_exchange",
    "type",
    "currency_name",
    "cik",
    "composite_figi",
    "share_class_figi",
    "last_updated_utc",
    "delisted_utc",
)
_DIVIDEND_FIELDS = (
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
_EMPTY_BARS = pd.DataFrame({"ticker": pd.Series(dtype=str)} | {c: [] for c in BAR_COLUMNS})
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_BASE_COLUMNS = ["ticker", *BAR_COLUMNS]
_EMPTY_BASE = pd.DataFrame(
    {"ticker": pd.Series(dtype=str)} | {c: [] for c in BAR_COLUMNS} | {"session": []}
)
_ZERO_BAR = {"o": 0.0, "h": 0.0, "l": 0.0, "c": 0.0, "v": 0.0, "vw": 0.0}


def _present(value: Any) -> bool:
    if value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _filter(frame: pd.DataFrame, query: dict[str, str], column: str, kind: type) -> pd.DataFrame:
    """Polygon's `col`, `col.gt/.gte/.lt/.lte`, `col.any_of` filters (nulls never match)."""
    ops = {
        "": lambda s, v: s == v,
        ".gt": lambda s, v: s > v,
        ".gte": lambda s, v: s >= v,
        ".lt": lambda s, v: s < v,
        ".lte": lambda s, v: s <= v,
    }
    for suffix, op in ops.items():
        raw = query.get(column + suffix)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise bad_request(f"{column}{suffix} must be a {kind.__name__}, got {raw!r}") from None
        frame = frame[frame[column].notna()]
        frame = frame[op(frame[column].astype(kind), value).astype(bool)]
    any_of = query.get(column + ".any_of")
    if any_of:
        frame = frame[frame[column].astype(str).isin(any_of.split(","))]
    return frame


def _sort(frame: pd.DataFrame, keys: list[tuple[str, str]]) -> pd.DataFrame:
    columns, ascending = [], []
    for column, order in keys:
        if column not in frame.columns:
            raise bad_request(f"cannot sort by {column!r}")
        if order not in ("asc", "desc"):
            raise bad_request(f"order must be asc or desc, got {order!r}")
        if column not in columns:
            columns.append(column)
            ascending.append(order == "asc")
    return frame.sort_values(columns, ascending=ascending, kind="stable", na_position="last")


def _v1_sort(text: str | None, default: str) -> list[tuple[str, str]]:
    """`col.asc,col2.desc` (Massive's v1 sort syntax) to sort keys."""
    keys = []
    for part in (text or f"{default}.desc").split(","):
        column, _, order = part.strip().rpartition(".")
        if not column:
            column, order = order, "asc"
        keys.append((column, order))
    return [*keys, ("ticker", "asc")]


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


def _window_keys(
    base: pd.DataFrame, timespan: str, multiplier: int, from_day: dt.date
) -> np.ndarray:
    """Window start (ns) of each base bar: minute/hour windows aligned to New York midnight,
    day windows of `multiplier` calendar days counted from the request's first day."""
    sessions = base["session"].tolist()
    if timespan == "day":
        starts = {
            s: _midnight_ns(
                from_day + dt.timedelta(days=(s - from_day).days // multiplier * multiplier)
            )
            for s in set(sessions)
        }
        return np.array([starts[s] for s in sessions], dtype="int64")
    midnights = {s: _midnight_ns(s) for s in set(sessions)}
    midnight = np.array([midnights[s] for s in sessions], dtype="int64")
    width = multiplier * _UNIT_SECONDS[timespan] * 1_000_000_000
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
        out["volume"].tolist(),
        out["vwap"].tolist(),
        out["open"].tolist(),
        out["close"].tolist(),
        out["high"].tolist(),
        out["low"].tolist(),
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


def upcoming_holidays(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """NYSE/NASDAQ closures and early closes in [start, end] (Polygon's `upcoming` shape)."""
    calendar = xnys()
    last = min(end, calendar.last_session.date())
    if last < start:
        return []
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
    out: list[dict[str, Any]] = []
    for day in sorted({*closed, *early}):
        if day.weekday() >= 5:
            continue
        for exchange in ("NYSE", "NASDAQ"):
            if day in closed and not is_session(day):
                out.append(
                    {
                        "exchange": exchange,
                        "name": closed[day],
                        "date": day.isoformat(),
                        "status": "closed",
                    }
                )
            elif day in early and is_session(day):
                opens = session_open(day).astimezone(dt.UTC)
                closes = session_close(day).astimezone(dt.UTC)
                out.append(
                    {
                        "exchange": exchange,
                        "name": early[day],
                        "date": day.isoformat(),
                        "status": "early-close",
                        "open": opens.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "close": closes.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    }
                )
    return out


# ---- the HTTP server ---------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: RestApi, stop: threading.Event) -> None:
        self.api = api
        self.stop_event = stop
        self._conn_lock = threading.Lock()
        self.connections: dict[threading.Thread, socket.socket] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"sandbox-rest:{self.server_address[1]}:connection",
            daemon=True,
        )
        with self._conn_lock:
            self.connections[thread] = request
        thread.start()

    def _serve_connection(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self.connections.pop(threading.current_thread(), None)

    def handle_error(self, request, client_address) -> None:
        # A client that went away mid-answer is normal here; anything else is a sandbox bug.
        if not isinstance(sys.exc_info()[1], OSError):
            logger.error("sandbox REST server error:\n%s", traceback.format_exc())

    def close_connections(self, timeout: float = 5.0) -> None:
        with self._conn_lock:
            items = list(self.connections.items())
        for _thread, sock in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread, _sock in items:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    stamp: float  # the request's time in the request log

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines can carry ?apiKey=...; never log them

    def do_GET(self) -> None:
        api = self.server.api
        self.stamp = time.monotonic()  # replaced by the rate limiter's decision time
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if split.path.startswith("/_sandbox/"):
            self._control(split.path, query, headers)
            return
        endpoint, params = api.route(split.path)
        response = self._answer(api, endpoint, params, query, headers)
        # Recorded before answering, so a client that got its answer sees itself counted.
        status = 0 if response is None else response.status
        api.counters.record(RequestRecord(self.stamp, endpoint, status, split.path))
        if response is None:  # hung, then dropped: no answer at all
            self.close_connection = True
            return
        self._send(response)

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        if split.path.startswith("/_sandbox/"):
            self._control(split.path, {}, headers, payload)
            return
        self.do_GET()

    def _answer(
        self,
        api: RestApi,
        endpoint: str,
        params: list[str],
        query: dict[str, str],
        headers: dict[str, str],
    ) -> Response | None:
        try:
            key = api.check_auth(api.api_key_of(headers, query))
            self.stamp, wait = api.limiter.admit(key)
            if wait is not None:
                raise api.rate_limited(wait)
            fault = api.transport_fault(endpoint)
            if fault is not None:
                early = self._apply_fault(api, fault)
                if early is not None or fault.kind == "hang":
                    return early
            return api.dispatch(endpoint, params, query)
        except HttpError as error:
            extra = {}
            if error.retry_after is not None and api.config.send_retry_after:
                extra["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
            return Response(error.status, error.body, extra)
        except Exception as exc:  # a sandbox bug: say so, without a traceback to the client
            logger.error("sandbox REST handler failed:\n%s", traceback.format_exc())
            return Response(500, error_body(f"internal sandbox error: {type(exc).__name__}"))

    def _apply_fault(self, api: RestApi, fault: TransportFault) -> Response | None:
        stop = self.server.stop_event
        if fault.kind == "error":
            return Response(fault.status, error_body(f"injected server error ({fault.status})"))
        if fault.kind == "rate_limit":
            raise api.rate_limited(api.config.window_seconds)
        if fault.kind == "slow":
            stop.wait(fault.seconds)
            return None
        # hang: hold until the client disconnects, the sandbox stops, or the bound passes
        deadline = time.monotonic() + fault.seconds
        while not stop.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    peek = b""
                if not peek:
                    return None
                stop.wait(0.05)
        if stop.is_set():
            return None
        return Response(504, error_body("injected hang reached its bound"))

    def _send(self, response: Response) -> None:
        data = json.dumps(response.body, separators=(",", ":")).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _control(
        self, path: str, query: dict[str, str], headers: dict[str, str], payload: bytes = b""
    ) -> None:
        """Private endpoints for the sandbox's own S3 side (token-guarded, never counted)."""
        api = self.server.api
        if headers.get("x-sandbox-token") != api.config.control_token:
            self._send(Response(403, error_body("forbidden")))
            return
        if path == "/_sandbox/ensure" and api.ensure_flat_files is not None:
            request = json.loads(payload or b"{}")
            api.ensure_flat_files(request.get("prefix"), request.get("key"))
            self._send(Response(200, {"status": "OK"}))
            return
        self._send(Response(404, error_body("unknown control path")))


class RestServer:
    """The threaded HTTP server on 127.0.0.1 (ephemeral port) around a RestApi."""

    def __init__(self, api: RestApi) -> None:
        self.api = api
        self._stop = threading.Event()
        self._httpd = _Server(api, self._stop)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        api.base_url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-rest:{port}",  # tests find a sandbox's threads by its port
            daemon=True,
        )

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting, release hung/slow requests, close kept-alive connections."""
        self._stop.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.close_connections()
        self._httpd.server_close()

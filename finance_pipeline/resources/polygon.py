"""Polygon REST access: one client every asset, check and CLI command goes through.

`PolygonClient` is plain Python (no Dagster): it wraps the official `polygon.RESTClient`
(1.16.3) and is what assets, checks and the CLI call. `PolygonResource` is the Dagster
ConfigurableResource that builds one from configuration (EnvVar for the key).

Every HTTP request the official client makes (pages included) goes through `_MeteredPool`, a
stand-in for its urllib3 PoolManager that (1) waits on the machine-wide rate limiter, (2) applies
real timeouts (1.16.3 stores but never applies its own), (3) retries 429/5xx/connection errors/
timeouts with exponential backoff and jitter honouring Retry-After (urllib3's own retries are
off, so every attempt is throttled and counted), (4) counts each attempt per endpoint. Final
failures become `PolygonError` subclasses whose messages never contain the key. Only HTTP 200
with a valid JSON body reaches the official client, so its silent "non-JSON means []" path and
its `BadResponse` are never taken.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import dagster as dg
import pandas as pd
import urllib3
from polygon import RESTClient
from pydantic import Field

from finance_pipeline.redaction import redact
from finance_pipeline.resources.rate_limit import RateLimiter, machine_limiter
from finance_pipeline.settings import DEFAULT_POLYGON_BASE_URL

logger = logging.getLogger(__name__)


class PolygonError(RuntimeError):
    """A Polygon request that failed for good; the message says why, without secrets."""


class PolygonAuthError(PolygonError): ...  # 401: key missing or unknown


class PolygonNotEntitledError(PolygonError): ...  # 403: plan, history window, today before EOD


class PolygonRateLimitedError(PolygonError): ...  # 429 after the retry budget


class PolygonBadRequestError(PolygonError): ...  # 400/404: bad parameter, unknown ticker


class PolygonUnavailableError(PolygonError): ...  # 5xx / timeouts after the retry budget


ENDPOINTS = (
    "grouped_daily",
    "aggs",
    "tickers",
    "splits",
    "dividends",
    "snapshot",
    "market_status",
)
_ENDPOINT_PATTERNS = (
    ("grouped_daily", re.compile(r"/v2/aggs/grouped/")),
    ("aggs", re.compile(r"/v2/aggs/ticker/")),
    ("tickers", re.compile(r"/v3/reference/tickers")),
    ("splits", re.compile(r"/(v3/reference|stocks/v1)/splits")),
    ("dividends", re.compile(r"/(v3/reference|stocks/v1)/dividends")),
    ("snapshot", re.compile(r"/v2/snapshot/")),
    ("market_status", re.compile(r"/v1/marketstatus/")),
)
# Statuses worth another attempt besides every 5xx (413/499 are in the official client's list).
_TRANSIENT_STATUSES = frozenset({408, 413, 425, 429, 499})
_MAX_RETRY_AFTER_SECONDS = 300.0

# Column -> dtype of every frame returned; empty frames keep both.
GROUPED_DAILY_COLUMNS = {
    "ticker": "str",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "vwap": "float64",
    "transactions": "Int64",
    "timestamp": "int64",
    "otc": "bool",
}
AGGS_COLUMNS = {k: v for k, v in GROUPED_DAILY_COLUMNS.items() if k not in ("ticker", "otc")}
TICKERS_COLUMNS = {
    "ticker": "str",
    "name": "str",
    "market": "str",
    "locale": "str",
    "primary_exchange": "str",
    "type": "str",
    "active": "boolean",
    "currency_name": "str",
    "cik": "str",
    "composite_figi": "str",
    "share_class_figi": "str",
    "last_updated_utc": "str",
    "delisted_utc": "str",
}
SPLITS_COLUMNS = {
    "id": "str",
    "ticker": "str",
    "execution_date": "str",
    "split_from": "float64",
    "split_to": "float64",
}
DIVIDENDS_COLUMNS = {
    "id": "str",
    "ticker": "str",
    "cash_amount": "float64",
    "currency": "str",
    "declaration_date": "str",
    "dividend_type": "str",
    "ex_dividend_date": "str",
    "frequency": "Int64",
    "pay_date": "str",
    "record_date": "str",
}
SNAPSHOT_COLUMNS = {
    "ticker": "str",
    "updated": "Int64",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "vwap": "float64",
    "prev_close": "float64",
}


def endpoint_name(url: str) -> str:
    """The accounting name of a request URL ("grouped_daily", "aggs", ...; "other")."""
    path = urlsplit(url).path
    for name, pattern in _ENDPOINT_PATTERNS:
        if pattern.search(path):
            return name
    return "other"


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _body_detail(data: bytes) -> str:
    """The human part of an error body: Polygon's `error`/`message`, else the text itself."""
    text = data.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300] or "(empty body)"
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("status", "error", "message") if body.get(k)]
        if parts:
            return ": ".join(parts)
    return text[:300]


def _not_entitled_hint(detail: str) -> str:
    lowered = detail.lower()
    if "before end of day" in lowered or "today" in lowered:
        return (
            "the session has not ended for this plan yet (free plans get a session only after "
            "the end of day, sometimes after midnight New York time); try again later"
        )
    if "timeframe" in lowered:
        return "the date is outside the plan's history window (free plans: about 2 years)"
    return "the plan does not include this data (snapshots and flat files need a paid plan)"


def _frame(records: Iterable[dict[str, Any]], columns: dict[str, str], what: str) -> pd.DataFrame:
    """A frame with exactly `columns` (in order, typed), also when there are no records."""
    rows = list(records)
    frame = pd.DataFrame({name: [row.get(name) for row in rows] for name in columns})
    try:
        return frame.astype(columns)
    except (TypeError, ValueError) as exc:
        raise PolygonError(f"Polygon {what}: unexpected values in the response ({exc})") from None


@dataclass
class _Failure:
    """Why an attempt did not succeed, kept for the final error message."""

    detail: str
    rate_limited: bool = False
    retry_after: float | None = None


class _MeteredPool:
    """Stands in for the official client's urllib3 PoolManager (`.request` is all it uses)."""

    def __init__(self, pool: urllib3.PoolManager, owner: PolygonClient) -> None:
        self._pool = pool
        self._owner = owner

    def request(self, method: str, url: str, fields=None, headers=None, **_: Any):
        return self._owner._send(self._pool, method, url, fields, headers)

    def clear(self) -> None:
        self._pool.clear()


class PolygonClient:
    """calls: Counter of HTTP requests sent, keyed by endpoint name
    ("grouped_daily", "aggs", "tickers", "splits", "dividends", "snapshot", "market_status").
    retries: Counter of attempts that were retries; rate_limited: Counter of 429s seen.
    Every method materialises the whole (paginated) result inside the retry scope."""

    calls: Counter
    retries: Counter
    rate_limited: Counter

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_POLYGON_BASE_URL,
        rate_limit_per_minute: int = 5,
        rate_limit_window_seconds: float = 60.0,
        connect_timeout_seconds: float = 10.0,
        read_timeout_seconds: float = 30.0,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        limiter_dir: str | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise PolygonAuthError(
                "no Polygon API key configured: set POLYGON_API_KEY (unset it to use the sandbox)"
            )
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self._api_key = api_key.strip()
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout = urllib3.Timeout(connect=connect_timeout_seconds, read=read_timeout_seconds)
        self.limiter: RateLimiter | None = machine_limiter(
            base_url=self.base_url,
            api_key=self._api_key,
            limit=rate_limit_per_minute,
            window_seconds=rate_limit_window_seconds,
            limiter_dir=limiter_dir,
            in_flight_ttl_seconds=connect_timeout_seconds + read_timeout_seconds,
        )
        self.calls = Counter()
        self.retries = Counter()
        self.rate_limited = Counter()
        self.limiter_wait_seconds = 0.0
        self._stats_lock = threading.Lock()

        self._rest = RESTClient(
            api_key=self._api_key,
            connect_timeout=connect_timeout_seconds,
            read_timeout=read_timeout_seconds,
            retries=0,
            base=self.base_url,
            pagination=True,
        )
        self._rest.client = _MeteredPool(self._rest.client, self)
        vx = getattr(self._rest, "vx", None)
        if vx is not None:
            vx.client = _MeteredPool(vx.client, self)

    def __repr__(self) -> str:
        limit = f"{self.limiter.limit}/{self.limiter.window_seconds:g}s" if self.limiter else "none"
        return f"PolygonClient(base_url={self.base_url!r}, rate_limit={limit})"

    # ---- accounting -------------------------------------------------------------------------

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def metrics(self) -> dict[str, float]:
        """Numeric totals for materialization metadata."""
        return {
            "api_calls": self.total_calls,
            "api_retries": sum(self.retries.values()),
            "api_429s": sum(self.rate_limited.values()),
            "rate_limit_wait_seconds": round(self.limiter_wait_seconds, 3),
        }

    def _count(self, counter: Counter, endpoint: str) -> None:
        with self._stats_lock:
            counter[endpoint] += 1

    # ---- the one place HTTP happens ---------------------------------------------------------

    def _redact(self, text: str) -> str:
        return redact(text, [self._api_key])

    def _slot(self):
        return self.limiter.slot() if self.limiter else nullcontext(0.0)

    def _send(self, pool: urllib3.PoolManager, method: str, url: str, fields, headers):
        endpoint = endpoint_name(url)
        where = urlsplit(url).path
        query = "&".join(q for q in (urlsplit(url).query, urlencode(fields or {})) if q)
        if query:
            where += "?" + query
        attempt = 0
        while True:
            failure = self._attempt(pool, method, url, fields, headers, endpoint, where)
            if not isinstance(failure, _Failure):
                return failure
            if attempt >= self.max_retries:
                self._raise_exhausted(failure, endpoint, where, attempt)
            delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
            delay = delay / 2 + random.uniform(0, delay / 2)
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, _MAX_RETRY_AFTER_SECONDS))
            attempt += 1
            self._count(self.retries, endpoint)
            logger.warning(
                self._redact(
                    f"Polygon {endpoint} {where}: {failure.detail}; "
                    f"retry {attempt}/{self.max_retries} in {delay:.2f}s"
                )
            )
            time.sleep(delay)

    def _attempt(
        self, pool, method: str, url: str, fields, headers, endpoint: str, where: str
    ) -> urllib3.BaseHTTPResponse | _Failure:
        """One throttled, counted request: the response on success, else a _Failure.

        Raises at once for answers that another attempt cannot change (401/403/4xx)."""
        with self._slot() as waited:
            with self._stats_lock:
                self.limiter_wait_seconds += waited
                self.calls[endpoint] += 1
            try:
                response = pool.request(
                    method,
                    url,
                    fields=fields,
                    headers=headers,
                    timeout=self.timeout,
                    retries=False,
                    redirect=False,
                    preload_content=True,
                )
            except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass
                return _Failure(f"connection failed ({type(exc).__name__}: {exc})")
            except urllib3.exceptions.ReadTimeoutError:
                return _Failure(f"read timed out after {self.timeout.read_timeout}s")
            except urllib3.exceptions.TimeoutError:
                return _Failure(f"connect timed out after {self.timeout.connect_timeout}s")
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                return _Failure(f"connection failed ({type(exc).__name__}: {exc})")
        status = response.status
        if status == 200:
            try:
                json.loads(response.data)
            except ValueError:
                return _Failure("HTTP 200 with a body that is not valid JSON (truncated?)")
            return response
        detail = _body_detail(response.data)
        if status == 429:
            self._count(self.rate_limited, endpoint)
        if status >= 500 or status in _TRANSIENT_STATUSES:
            return _Failure(
                f"HTTP {status}: {detail}",
                rate_limited=status == 429,
                retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
            )
        raise self._final_error(status, detail, endpoint, where)

    def _final_error(self, status: int, detail: str, endpoint: str, where: str) -> PolygonError:
        kind: type[PolygonError]
        if status == 401:
            kind = PolygonAuthError
            message = (
                f"Polygon rejected the API key on {endpoint} {where} (HTTP 401: {detail}); "
                "check POLYGON_API_KEY"
            )
        elif status == 403:
            kind = PolygonNotEntitledError
            message = (
                f"Polygon refused {endpoint} {where} (HTTP 403: {detail}): "
                f"{_not_entitled_hint(detail)}"
            )
        elif status in (400, 404, 422):
            kind = PolygonBadRequestError
            message = (
                f"Polygon rejected {endpoint} {where} as a bad request (HTTP {status}: {detail})"
            )
        else:
            kind = PolygonError
            message = f"Polygon {endpoint} {where} failed (HTTP {status}: {detail})"
        return kind(self._redact(message))

    def _raise_exhausted(self, failure: _Failure, endpoint: str, where: str, retries: int):
        if failure.rate_limited:
            message = (
                f"Polygon rate-limited {endpoint} {where} after {retries} retries "
                f"({failure.detail}); lower the rate limit to the plan's or try later"
            )
            raise PolygonRateLimitedError(self._redact(message))
        message = (
            f"Polygon {endpoint} {where} unavailable after {retries} retries "
            f"(last: {failure.detail})"
        )
        raise PolygonUnavailableError(self._redact(message))

    # ---- endpoints --------------------------------------------------------------------------

    @staticmethod
    def _records(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
        return (vars(item) for item in items)

    def grouped_daily(self, session: dt.date, include_otc: bool = False) -> pd.DataFrame:
        """Unadjusted whole-market bars: ticker, open, high, low, close, volume, vwap,
        transactions, timestamp (int ms as Polygon sent it), otc (bool). Empty frame (same
        columns) when Polygon returns no results."""
        rows = self._rest.get_grouped_daily_aggs(
            session.isoformat(), adjusted=False, include_otc=include_otc
        )
        records = [{**vars(row), "otc": bool(row.otc)} for row in rows]
        return _frame(records, GROUPED_DAILY_COLUMNS, f"grouped daily {session}")

    def aggs(
        self, ticker: str, multiplier: int, timespan: str, start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """Unadjusted per-ticker bars via list_aggs (follows next_url, limit=50000):
        open, high, low, close, volume, vwap, transactions, timestamp (int ms, window start)."""
        rows = list(
            self._rest.list_aggs(
                ticker,
                multiplier,
                timespan,
                start.isoformat(),
                end.isoformat(),
                adjusted=False,
                sort="asc",
                limit=50000,
            )
        )
        what = f"aggs {ticker} {multiplier} {timespan} {start}..{end}"
        return _frame(self._records(rows), AGGS_COLUMNS, what)

    def tickers(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time reference tickers (market=stocks, limit=1000, all pages): ticker,
        name, market, locale, primary_exchange, type, active, currency_name, cik,
        composite_figi, share_class_figi, last_updated_utc, delisted_utc."""
        rows = list(
            self._rest.list_tickers(
                market="stocks", date=day.isoformat(), active=active, limit=1000
            )
        )
        return _frame(self._records(rows), TICKERS_COLUMNS, f"tickers {day} active={active}")

    def splits(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """v3 splits with start <= execution_date <= end (limit=1000, all pages): id, ticker,
        execution_date (YYYY-MM-DD as sent), split_from, split_to."""
        rows = list(
            self._rest.list_splits(
                execution_date_gte=start.isoformat(),
                execution_date_lte=end.isoformat(),
                limit=1000,
            )
        )
        return _frame(self._records(rows), SPLITS_COLUMNS, f"splits {start}..{end}")

    def dividends(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """v3 dividends with start <= ex_dividend_date <= end (limit=1000, all pages): id,
        ticker, cash_amount, currency, declaration_date, dividend_type, ex_dividend_date,
        frequency, pay_date, record_date (dates as sent)."""
        rows = list(
            self._rest.list_dividends(
                ex_dividend_date_gte=start.isoformat(),
                ex_dividend_date_lte=end.isoformat(),
                limit=1000,
            )
        )
        return _frame(self._records(rows), DIVIDENDS_COLUMNS, f"dividends {start}..{end}")

    def snapshot(self, tickers: list[str] | None = None, include_otc: bool = False) -> pd.DataFrame:
        """Today's full-market snapshot (paid plans): ticker, updated (ns), open, high, low,
        close, volume, vwap (today's bar so far), prev_close."""
        rows = self._rest.get_snapshot_all("stocks", tickers=tickers, include_otc=include_otc)
        records = []
        for row in rows:
            day = vars(row.day) if row.day is not None else {}
            prev = row.prev_day
            records.append(
                {
                    **{k: day.get(k) for k in ("open", "high", "low", "close", "volume", "vwap")},
                    "ticker": row.ticker,
                    "updated": row.updated,
                    "prev_close": prev.close if prev is not None else None,
                }
            )
        return _frame(records, SNAPSHOT_COLUMNS, "snapshot")

    def market_status(self) -> dict[str, Any]:
        """/v1/marketstatus/now: market ("open"|"closed"|"extended-hours"), early_hours,
        after_hours, server_time, exchanges ({"nyse": ..., "nasdaq": ..., "otc": ...})."""
        status = self._rest.get_market_status()
        exchanges = vars(status.exchanges) if status.exchanges is not None else {}
        return {
            "market": status.market,
            "early_hours": status.early_hours,
            "after_hours": status.after_hours,
            "server_time": status.server_time,
            "exchanges": dict(exchanges),
        }


class PolygonResource(dg.ConfigurableResource):
    """Builds a PolygonClient. `rate_limit_per_minute` is L requests per
    `rate_limit_window_seconds` (60 s unless a test compresses time); 0 turns the limiter off.
    The limiter's state lives in `limiter_dir` (default: a per-user temp dir)."""

    api_key: str = Field(repr=False, description="Polygon API key (use EnvVar)")
    base_url: str = DEFAULT_POLYGON_BASE_URL
    rate_limit_per_minute: int = 5  # 0: no client-side limit
    rate_limit_window_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    limiter_dir: str | None = None

    def get_client(self) -> PolygonClient:
        return PolygonClient(
            self.api_key,
            base_url=self.base_url,
            rate_limit_per_minute=self.rate_limit_per_minute,
            rate_limit_window_seconds=self.rate_limit_window_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            read_timeout_seconds=self.read_timeout_seconds,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff_seconds,
            limiter_dir=self.limiter_dir,
        )

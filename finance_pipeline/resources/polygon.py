"""CONTRACT SKELETON (to be implemented): Polygon REST access.

`PolygonClient` is plain Python (no Dagster): it wraps the official `polygon.RESTClient`
(1.16.3) and is what assets, checks and the CLI call. `PolygonResource` is the Dagster
ConfigurableResource that builds one from configuration (EnvVar for the key).

Every HTTP request the official client makes (pages included) goes through one wrapper around
its urllib3 pool that (1) waits on the machine-wide rate limiter, (2) applies real timeouts,
(3) retries 429/5xx/timeouts with exponential backoff honouring Retry-After, (4) counts the
request per endpoint. Polygon's errors become `PolygonError` subclasses with clear messages
that never contain the key.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import dagster as dg
import pandas as pd


class PolygonError(RuntimeError):
    """A Polygon request that failed for good; the message says why, without secrets."""


class PolygonAuthError(PolygonError): ...  # 401: key missing or unknown


class PolygonNotEntitledError(PolygonError): ...  # 403: plan, history window, today before EOD


class PolygonRateLimitedError(PolygonError): ...  # 429 after the retry budget


class PolygonBadRequestError(PolygonError): ...  # 400/404: bad parameter, unknown ticker


class PolygonUnavailableError(PolygonError): ...  # 5xx / timeouts after the retry budget


class PolygonClient:
    """calls: Counter of HTTP requests sent, keyed by endpoint name
    ("grouped_daily", "aggs", "tickers", "splits", "dividends", "snapshot", "market_status").
    Every method materialises the whole (paginated) result inside the retry scope."""

    calls: Counter

    @property
    def total_calls(self) -> int: ...

    def grouped_daily(self, session: dt.date, include_otc: bool = False) -> pd.DataFrame:
        """Unadjusted whole-market bars: ticker, open, high, low, close, volume, vwap,
        transactions, timestamp (int ms as Polygon sent it), otc (bool). Empty frame (same
        columns) when Polygon returns no results."""
        raise NotImplementedError

    def aggs(
        self, ticker: str, multiplier: int, timespan: str, start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """Unadjusted per-ticker bars via list_aggs (follows next_url, limit=50000):
        open, high, low, close, volume, vwap, transactions, timestamp (int ms, window start)."""
        raise NotImplementedError

    def tickers(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time reference tickers (market=stocks, limit=1000, all pages)."""
        raise NotImplementedError

    def splits(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """v3 splits with start <= execution_date <= end (limit=1000, all pages)."""
        raise NotImplementedError

    def dividends(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """v3 dividends with start <= ex_dividend_date <= end (limit=1000, all pages)."""
        raise NotImplementedError


class PolygonResource(dg.ConfigurableResource):
    api_key: str
    base_url: str = "https://api.polygon.io"
    rate_limit_per_minute: int = 5  # 0: no client-side limit
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    max_retries: int = 5

    def get_client(self) -> PolygonClient:
        raise NotImplementedError

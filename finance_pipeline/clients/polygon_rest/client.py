"""`PolygonClient`: the Polygon REST endpoints every asset, check and CLI command calls.

It wraps the official `polygon.RESTClient` (1.16.3), whose requests all go through this
client's `Transport` (rate limit, timeouts, retries, per-endpoint `Usage`). Each method
materialises the whole (paginated) result inside the retry scope and returns a typed frame
(`frames`); failures are `PolygonError` subclasses whose messages never contain the key.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd
import urllib3
from polygon import RESTClient

from finance_pipeline.clients.polygon_rest.accounting import Usage
from finance_pipeline.clients.polygon_rest.errors import PolygonAuthError
from finance_pipeline.clients.polygon_rest.frames import (
    AGGS_COLUMNS,
    BAR_COLUMNS,
    DIVIDENDS_COLUMNS,
    GROUPED_DAILY_COLUMNS,
    SNAPSHOT_COLUMNS,
    SPLITS_COLUMNS,
    TICKERS_COLUMNS,
    typed_frame,
)
from finance_pipeline.clients.polygon_rest.transport import RetryPolicy, Transport
from finance_pipeline.clients.rate_limit import RateLimiter, shared_limiter
from finance_pipeline.settings import DEFAULT_POLYGON_BASE_URL


def _records(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    return (vars(item) for item in items)


class PolygonClient:
    """calls: Counter of HTTP requests sent, keyed by endpoint label (`accounting.ENDPOINTS`);
    retries: Counter of attempts that were retries; rate_limited: Counter of 429s seen."""

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
        limiter_postgres_dsn: str | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise PolygonAuthError(
                "no Polygon API key configured: set POLYGON_API_KEY (unset it to use the sandbox)"
            )
        retry = RetryPolicy(max_retries, backoff_seconds, max_backoff_seconds)
        key = api_key.strip()
        self.base_url = base_url.rstrip("/")
        self.limiter: RateLimiter | None = shared_limiter(
            base_url=self.base_url,
            api_key=key,
            limit=rate_limit_per_minute,
            window_seconds=rate_limit_window_seconds,
            limiter_dir=limiter_dir,
            postgres_dsn=limiter_postgres_dsn,
            in_flight_ttl_seconds=connect_timeout_seconds + read_timeout_seconds,
        )
        self.usage = Usage()
        self.page_limit = 1000  # rows per page of the /stocks/v1 listings (the vendor's maximum)
        self._rest = RESTClient(
            api_key=key,
            connect_timeout=connect_timeout_seconds,
            read_timeout=read_timeout_seconds,
            retries=0,
            base=self.base_url,
            pagination=True,
        )
        Transport(
            retry=retry,
            timeout=urllib3.Timeout(connect=connect_timeout_seconds, read=read_timeout_seconds),
            limiter=self.limiter,
            usage=self.usage,
            secrets=[key],
        ).install(self._rest)

    def __repr__(self) -> str:
        limit = f"{self.limiter.limit}/{self.limiter.window_seconds:g}s" if self.limiter else "none"
        return f"PolygonClient(base_url={self.base_url!r}, rate_limit={limit})"

    # ---- accounting (see accounting.Usage) --------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        return self.usage.calls

    @property
    def retries(self) -> Counter[str]:
        return self.usage.retries

    @property
    def rate_limited(self) -> Counter[str]:
        return self.usage.rate_limited

    @property
    def total_calls(self) -> int:
        return self.usage.total_calls

    def metrics(self) -> dict[str, float]:
        """Numeric totals for materialization metadata."""
        return self.usage.metrics()

    # ---- endpoints --------------------------------------------------------------------------

    def grouped_daily(self, session: dt.date, include_otc: bool = False) -> pd.DataFrame:
        """Unadjusted whole-market bars: ticker, open, high, low, close, volume, vwap,
        transactions, timestamp (int ms as Polygon sent it), otc (bool). Empty frame (same
        columns) when Polygon returns no results."""
        rows = self._rest.get_grouped_daily_aggs(
            session.isoformat(), adjusted=False, include_otc=include_otc
        )
        records = [{**vars(row), "otc": bool(row.otc)} for row in rows]
        return typed_frame(records, GROUPED_DAILY_COLUMNS, f"grouped daily {session}")

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
        return typed_frame(_records(rows), AGGS_COLUMNS, what)

    def tickers(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time reference tickers (market=stocks, limit=1000, all pages): ticker,
        name, market, locale, primary_exchange, type, active, currency_name, cik,
        composite_figi, share_class_figi, last_updated_utc, delisted_utc."""
        rows = list(
            self._rest.list_tickers(
                market="stocks", date=day.isoformat(), active=active, limit=1000
            )
        )
        return typed_frame(_records(rows), TICKERS_COLUMNS, f"tickers {day} active={active}")

    def _listing(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of a paginated endpoint the official client does not wrap, through its
        own raw pagination (`next_url` followed), so this client's transport still applies."""
        return list(self._rest._paginate(path=path, params=params, raw=False, deserializer=dict))

    def stocks_splits(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """/stocks/v1/splits with start <= execution_date <= end (limit=1000, all pages): id,
        ticker, execution_date, split_from, split_to, adjustment_type,
        historical_adjustment_factor (the vendor's cumulative factor)."""
        rows = self._listing(
            "/stocks/v1/splits",
            {
                "execution_date.gte": start.isoformat(),
                "execution_date.lte": end.isoformat(),
                "sort": "execution_date.asc",
                "limit": self.page_limit,
            },
        )
        return typed_frame(rows, SPLITS_COLUMNS, f"v1 splits {start}..{end}")

    def stocks_dividends(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """/stocks/v1/dividends with start <= ex_dividend_date <= end (limit=1000, all pages):
        the v3 fields (no dividend_type) plus distribution_type, split_adjusted_cash_amount
        and historical_adjustment_factor."""
        rows = self._listing(
            "/stocks/v1/dividends",
            {
                "ex_dividend_date.gte": start.isoformat(),
                "ex_dividend_date.lte": end.isoformat(),
                "sort": "ex_dividend_date.asc",
                "limit": self.page_limit,
            },
        )
        return typed_frame(rows, DIVIDENDS_COLUMNS, f"v1 dividends {start}..{end}")

    def splits(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Deprecated v3 splits (the fallback when v1 is refused), start <= execution_date <=
        end: the SPLITS_COLUMNS v3 has (id often absent), the v1-only ones empty."""
        rows = list(
            self._rest.list_splits(
                execution_date_gte=start.isoformat(),
                execution_date_lte=end.isoformat(),
                limit=1000,
            )
        )
        return typed_frame(_records(rows), SPLITS_COLUMNS, f"splits {start}..{end}")

    def dividends(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Deprecated v3 dividends (the fallback when v1 is refused), start <=
        ex_dividend_date <= end: id (often absent), ticker, cash_amount, currency (sometimes
        absent), declaration_date, dividend_type, ex_dividend_date, frequency, pay_date,
        record_date; the v1-only columns empty."""
        rows = list(
            self._rest.list_dividends(
                ex_dividend_date_gte=start.isoformat(),
                ex_dividend_date_lte=end.isoformat(),
                limit=1000,
            )
        )
        return typed_frame(_records(rows), DIVIDENDS_COLUMNS, f"dividends {start}..{end}")

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
                    **{k: day.get(k) for k in BAR_COLUMNS},
                    "ticker": row.ticker,
                    "updated": row.updated,
                    "prev_close": prev.close if prev is not None else None,
                }
            )
        return typed_frame(records, SNAPSHOT_COLUMNS, "snapshot")

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

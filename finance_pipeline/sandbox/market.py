"""CONTRACT SKELETON (to be implemented): the deterministic synthetic US stock market.

One seeded market is behind both sandbox servers (REST and S3 flat files), so every path gives
the same numbers. Everything here is pure computation: no sockets, no Dagster.

Conventions (must hold exactly; the servers and tests rely on them):
- Sessions are `finance_pipeline.calendar.sessions_between(start, end)` (XNYS).
- All prices/volumes returned here are RAW (unadjusted) unless a method says otherwise.
- `window_start` columns are int64 Unix NANOSECONDS UTC. Day bars: 00:00 America/New_York of
  the session. Minute bars: the start of the minute, 04:00 <= t < 20:00 New York.
- Tickers keep their case (`BRK.A`, `KIMpL`); `NA` must survive CSV round trips as a string.
- Same (seed, tickers, start, end) => byte-identical frames and files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd


class Market:
    """A seeded universe with listings, delistings, splits, dividends, day and minute bars.

    Parameters:
        seed: RNG seed; the market is a pure function of (seed, tickers, start, end).
        tickers: number of listings (default 300; must work up to at least 12,000). Always
            includes BRK.A, BRK.B, KIMpL, NA and the exchange test symbol ZVZZT, a mix of types
            CS, ETF, ADRC, PFD, WARRANT, some OTC names (market "otc"), some IPOs and
            delistings inside [start, end], forward and reverse splits and cash dividends
            inside [start, end] (at least one split of each kind when tickers >= 50).
        start, end: the date range (inclusive); sessions come from XNYS.
        cache_dir: where generated minute sessions are cached between runs (None: no cache).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        tickers: int = 300,
        start: dt.date,
        end: dt.date,
        cache_dir: Path | None = None,
    ) -> None:
        raise NotImplementedError

    sessions: list[dt.date]

    def listings(self) -> pd.DataFrame:
        """One row per listing: ticker, name, market ("stocks"|"otc"), locale ("us"),
        primary_exchange (XNYS, XNAS, ARCX, BATS, OTCM...), type (CS, ETF, ADRC, PFD, WARRANT),
        currency_name ("usd"), cik, composite_figi, share_class_figi, list_date (date),
        delisted_date (date or None: first date it no longer trades)."""
        raise NotImplementedError

    def tickers_as_of(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time reference tickers (Polygon `date=` semantics): listed on or before
        `day`; active=True: not delisted by `day`; active=False: delisted on or before `day`.
        Columns as listings() plus `active` (bool) and `delisted_utc` (ISO string or None).
        Sorted by ticker. May contain one duplicated row per ticker for a few tickers (a real
        vendor defect) only if documented; default: no duplicates."""
        raise NotImplementedError

    def splits(self) -> pd.DataFrame:
        """id, ticker, execution_date (date), split_from, split_to (floats). On execution_date
        the stock already trades post-split. Includes one exact duplicate row (vendor defect)."""
        raise NotImplementedError

    def dividends(self) -> pd.DataFrame:
        """id, ticker, cash_amount, currency, declaration_date, ex_dividend_date, record_date,
        pay_date (dates), frequency (int), dividend_type ("CD")."""
        raise NotImplementedError

    def split_factor(self, ticker: str, session: dt.date, as_of: dt.date) -> float:
        """Product of split_to/split_from over splits with session < execution_date <= as_of.
        Adjusted price = raw price / factor; adjusted volume = raw volume * factor."""
        raise NotImplementedError

    def day_bars(self, session: dt.date) -> pd.DataFrame:
        """RAW day bars of every ticker that traded on `session`, OTC included:
        ticker, open, high, low, close, volume (float), vwap, transactions (int64),
        window_start (int ns, 00:00 New York), otc (bool). Sorted by ticker. Tickers not listed
        yet, already delisted, or with no trades that day (illiquid names sometimes) are absent.
        Consistent with minute_bars by the rule documented in this module."""
        raise NotImplementedError

    def minute_bars(self, session: dt.date, tickers: list[str] | None = None) -> pd.DataFrame:
        """RAW minute bars (04:00-20:00 New York; regular hours denser; half days close 13:00),
        same columns as day_bars minus `otc`, sorted by (ticker, window_start). Vectorised and
        cached on disk (cache_dir): 10,000 tickers => >= 1.5M rows in a few seconds."""
        raise NotImplementedError

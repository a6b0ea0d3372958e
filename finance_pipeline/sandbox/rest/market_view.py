"""The market as every REST endpoint sees it: the clock and plan rules (what is visible when),
bar caches, restatements and split adjustment, and where `next_url` links point."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from finance_pipeline.calendar import new_york_date, session_close, sessions_between
from finance_pipeline.sandbox.faults import Faults
from finance_pipeline.sandbox.rest.protocol import (
    MSG_TIMEFRAME,
    MSG_TODAY,
    RestConfig,
    not_authorized,
)

FREE_HISTORY_DAYS = 730
BAR_COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "transactions", "window_start"]
ADJUSTED_PRICES = ("open", "high", "low", "close", "vwap")


class MarketView:
    def __init__(
        self,
        market: Any,
        faults: Faults,
        clock: Callable[[], dt.datetime],
        config: RestConfig,
    ) -> None:
        self.market = market
        self.faults = faults
        self.clock = clock
        self.config = config
        self.base_url = ""  # set by the server once bound
        self.sessions = set(market.sessions)
        self._cache_lock = threading.Lock()
        self._day_cache: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()
        self._minute_cache: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()  # whole market
        self._ticker_cache: OrderedDict[tuple[dt.date, str], pd.DataFrame] = OrderedDict()
        self._row_cache: OrderedDict[dt.date, tuple] = OrderedDict()
        self._factor_cache: dict[tuple[str, dt.date, dt.date], float] = {}
        self.split_tickers = frozenset(market.splits()["ticker"])
        listings = market.listings()
        self.otc = frozenset(listings.loc[listings["market"] == "otc", "ticker"])
        # ticker -> [(first session it can trade, first date it no longer trades or None)]: a
        # reused ticker has one interval per company
        self._listed: dict[str, list[tuple[dt.date, dt.date | None]]] = {}
        for t, first, gone in zip(
            listings["ticker"], listings["list_date"], listings["delisted_date"], strict=True
        ):
            end = None if gone is None or pd.isna(gone) else gone
            self._listed.setdefault(t, []).append((first, end))

    # ---- time and plan ------------------------------------------------------------------
    def today(self) -> dt.date:
        return new_york_date(self.clock())

    def check_day(self, day: dt.date, today: dt.date) -> None:
        """Plan gating of a requested date (grouped daily date, or an aggregates start)."""
        if day > today:
            raise not_authorized(MSG_TIMEFRAME)
        if self.config.plan == "free":
            if day == today:
                raise not_authorized(MSG_TODAY)
            if day < today - dt.timedelta(days=FREE_HISTORY_DAYS):
                raise not_authorized(MSG_TIMEFRAME)

    def day_visible(self, session: dt.date, now: dt.datetime, today: dt.date) -> bool:
        if session not in self.sessions:
            return False
        if self.config.plan == "free" and session >= today:
            return False
        return session_close(session) <= now

    def trading_sessions(
        self, ticker: str, start: dt.date, end: dt.date, today: dt.date
    ) -> list[dt.date]:
        """Market sessions in [start, end] on which `ticker` was listed (free plan: < today)."""
        intervals = self._listed.get(ticker)
        if intervals is None:
            return []  # never generate a whole session for a ticker that does not exist
        last = end if self.config.plan == "paid" else min(end, today - dt.timedelta(days=1))
        return [
            s
            for first, gone in intervals
            for s in sessions_between(max(start, first), last)
            if s in self.sessions and (gone is None or s < gone)
        ]

    # ---- bars with caches and restatements ----------------------------------------------
    def day_bars(self, session: dt.date) -> pd.DataFrame:
        """RAW day bars of a session as every path serves them (restatements applied)."""
        return self.faults.restated("day_aggs_v1", session, self._raw_day_bars(session))

    def _raw_day_bars(self, session: dt.date) -> pd.DataFrame:
        return self._cached(self._day_cache, session, 256, lambda: self.market.day_bars(session))

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

    def day_row(self, session: dt.date, ticker: str) -> tuple | None:
        """One ticker's raw day bar as (ticker, *BAR_COLUMNS) (a dict lookup, no pandas)."""
        index, columns = self._cached(
            self._row_cache, session, 256, lambda: self._row_index(session)
        )
        i = index.get(ticker)
        return None if i is None else (ticker, *(column[i] for column in columns))

    def _row_index(self, session: dt.date) -> tuple[dict[str, int], list[np.ndarray]]:
        frame = self._raw_day_bars(session)
        index = {t: i for i, t in enumerate(frame["ticker"].tolist())}
        return index, [frame[c].to_numpy() for c in BAR_COLUMNS]  # views, not copies

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

    # ---- split adjustment ---------------------------------------------------------------
    def split_factor(self, ticker: str, session: dt.date, as_of: dt.date) -> float:
        key = (ticker, session, as_of)
        factor = self._factor_cache.get(key)
        if factor is None:
            factor = float(self.market.split_factor(ticker, session, as_of))
            self._factor_cache[key] = factor
        return factor

    def adjust_session(self, frame: pd.DataFrame, session: dt.date, as_of: dt.date) -> pd.DataFrame:
        """Split-adjust one session's bars of many tickers, each by its own factor."""
        factors = np.ones(len(frame))
        tickers = frame["ticker"]
        for i in np.flatnonzero(tickers.isin(self.split_tickers).to_numpy()):
            factors[i] = self.split_factor(tickers.iloc[i], session, as_of)
        return _divide(frame, factors)

    def adjust_ticker(self, frame: pd.DataFrame, ticker: str, as_of: dt.date) -> pd.DataFrame:
        """Split-adjust one ticker's bars; each row by the factor of its own `session`."""
        if ticker not in self.split_tickers:
            return frame
        sessions = frame["session"].tolist()
        return _divide(frame, np.array([self.split_factor(ticker, s, as_of) for s in sessions]))


def _divide(frame: pd.DataFrame, factors: np.ndarray) -> pd.DataFrame:
    """Prices / factor and volume * factor, row by row (no rounding)."""
    if (factors == 1.0).all():
        return frame
    frame = frame.copy()
    for column in ADJUSTED_PRICES:
        if column in frame.columns:
            frame[column] = frame[column].to_numpy() / factors
    frame["volume"] = frame["volume"].to_numpy() * factors
    return frame

"""`Market`: one seeded universe with its corporate actions, day and minute bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from finance_pipeline.calendar import sessions_between
from finance_pipeline.sandbox.market.corporate_actions import Dividends, Splits
from finance_pipeline.sandbox.market.day_bars import DayBars
from finance_pipeline.sandbox.market.minute_bars import generate_minutes
from finance_pipeline.sandbox.market.minute_cache import MinuteCache
from finance_pipeline.sandbox.market.profiles import SPECIAL_TICKERS
from finance_pipeline.sandbox.market.seeding import MINUTE_COLUMNS, empty_bars, rng
from finance_pipeline.sandbox.market.symbology import Rename, Reuse, Symbology
from finance_pipeline.sandbox.market.universe import build_universe, listings_frame
from finance_pipeline.sandbox.market.universe import tickers_as_of as _tickers_as_of


class Market:
    """A seeded universe with listings, delistings, splits, dividends, day and minute bars.

    Parameters:
        seed: RNG seed; the market is a pure function of (seed, tickers, start, end).
        tickers: number of listings (default 300; must work up to at least 12,000). Always
            includes BRK.A, BRK.B, KIMpL, NA and the exchange test symbol ZVZZT, a mix of types
            CS, ETF, ADRC, PFD, WARRANT, some OTC names (market "otc"), some IPOs and
            delistings inside [start, end], forward and reverse splits and cash dividends
            inside [start, end] (at least one split of each kind when tickers >= 50).
            AAPL, MSFT, NVDA, TSLA (CS) and SPY (ETF) are listed for the whole range; NVDA,
            AAPL or TSLA split on their real dates when inside the range, else NVDA splits
            2-for-1 at the middle session.
        start, end: the date range (inclusive); sessions come from XNYS.
        cache_dir: where generated minute sessions are cached between runs (None: no cache).
        symbology: also renames, a reused ticker and missing identifiers (see `symbology`);
            listings then has one row per (listing, ticker) and tickers may repeat.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        tickers: int = 300,
        start: dt.date,
        end: dt.date,
        cache_dir: Path | None = None,
        symbology: bool = False,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        if tickers < len(SPECIAL_TICKERS):
            raise ValueError(
                f"tickers must be at least {len(SPECIAL_TICKERS)} (the special symbols "
                f"{', '.join(SPECIAL_TICKERS)}), got {tickers}"
            )
        self.seed = seed
        self.tickers = tickers
        self.start = start
        self.end = end
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.sessions: list[dt.date] = sessions_between(start, end)
        if not self.sessions:
            raise ValueError(f"there is no NYSE trading session between {start} and {end}")
        self._session_index = {day: k for k, day in enumerate(self.sessions)}
        draws = rng(seed, "universe")  # universe, then splits, then dividends: in that order
        self._universe = build_universe(draws, tickers, self.sessions, start)
        self.symbols: np.ndarray = self._universe.symbols
        self._splits = Splits(draws, self._universe, self.sessions, seed, tickers)
        self._dividends = Dividends(draws, self._universe, self.sessions, self._splits, seed)
        self._symbology: Symbology | None = None
        if symbology:
            excluded = {*self._splits.by_ticker, *self._dividends.payers}
            self._symbology = Symbology(
                rng(seed, "symbology"), self._universe, self.sessions, excluded
            )
        self.renames: list[Rename] = self._symbology.renames if self._symbology else []
        self.reuses: list[Reuse] = self._symbology.reuses if self._symbology else []
        symbols_at = self._symbology.symbols_at if self._symbology else None
        self._day = DayBars(seed, self.sessions, self._universe, self._splits, symbols_at)
        key = f"seed{seed}-n{tickers}-{start.isoformat()}-{end.isoformat()}"
        key += "-symbology" if symbology else ""
        self._minutes = MinuteCache(self.cache_dir, key)

    # ---- reference data ---------------------------------------------------------------------
    def listings(self) -> pd.DataFrame:
        """One row per listing: ticker, name, market ("stocks"|"otc"), locale ("us"),
        primary_exchange (XNYS, XNAS, ARCX, BATS, OTCM...), type (CS, ETF, ADRC, PFD, WARRANT),
        currency_name ("usd"), cik, composite_figi, share_class_figi, list_date (date),
        delisted_date (date or None: first date it no longer trades).
        With symbology: one row per (listing, ticker); a renamed ticker's row ends on the
        rename session and the new ticker's row starts there."""
        if self._symbology:
            return self._symbology.segments().drop(columns="renamed")
        return listings_frame(self._universe)

    def tickers_as_of(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time reference tickers (Polygon `date=` semantics): listed on or before
        `day`; active=True: not delisted by `day`; active=False: delisted on or before `day`.
        Columns as listings() plus `active` (bool) and `delisted_utc` (ISO string or None).
        Sorted by ticker, no duplicate rows. For an active row, `delisted_date` and
        `delisted_utc` are None (a later delisting is not known yet on `day`)."""
        if self._symbology:
            return self._symbology.tickers_as_of(day, active)
        return _tickers_as_of(self._universe, day, active)

    def ticker_events(self, identifier: str, today: dt.date) -> dict | None:
        """The vendor's `/vX/reference/tickers/{id}/events` results for a ticker or composite
        FIGI known by `today` (None: unknown). Every listing has its first ticker as an event
        dated on its list date; renames add theirs, dated the vendor's way."""
        if self._symbology:
            return self._symbology.ticker_events(identifier, today)
        frame = _tickers_as_of(self._universe, today, True)
        frame = pd.concat([frame, _tickers_as_of(self._universe, today, False)])
        hits = frame[(frame["ticker"] == identifier) | (frame["composite_figi"] == identifier)]
        if hits.empty:
            return None
        row = hits.iloc[0]
        event = {"ticker_change": {"ticker": row["ticker"]}, "type": "ticker_change"}
        event["date"] = row["list_date"].isoformat()
        return {"name": row["name"], "composite_figi": row["composite_figi"], "events": [event]}

    def splits(self) -> pd.DataFrame:
        """id, ticker, execution_date (date), split_from, split_to (floats). On execution_date
        the stock already trades post-split. Includes one exact duplicate row (vendor defect):
        the first split row appears twice."""
        return self._splits.frame()

    def dividends(self) -> pd.DataFrame:
        """id, ticker, cash_amount, currency, declaration_date, ex_dividend_date, record_date,
        pay_date (dates), frequency (int), dividend_type ("CD"). Quarterly; the cash amount is
        raw (per share as traded on the ex-date, so it shrinks after a forward split)."""
        return self._dividends.frame()

    def split_factor(self, ticker: str, session: dt.date, as_of: dt.date) -> float:
        """Product of split_to/split_from over splits with session < execution_date <= as_of.
        Adjusted price = raw price / factor; adjusted volume = raw volume * factor.
        1.0 for a ticker without splits (or unknown)."""
        return self._splits.factor(ticker, session, as_of)

    def split_factors(self, session: dt.date, as_of: dt.date) -> dict[str, float]:
        """split_factor for every ticker whose factor is not 1 (the others are 1)."""
        factors = {t: self.split_factor(t, session, as_of) for t in self._splits.dates}
        return {t: f for t, f in factors.items() if f != 1.0}

    # ---- bars -------------------------------------------------------------------------------
    def day_bars(self, session: dt.date) -> pd.DataFrame:
        """RAW day bars of every ticker that traded on `session`, OTC included:
        ticker, open, high, low, close, volume (float), vwap, transactions (int64),
        window_start (int ns, 00:00 New York), otc (bool). Sorted by ticker. Tickers not listed
        yet, already delisted, or with no trades that day (illiquid names sometimes) are absent.
        Consistent with minute_bars by the rule documented in this package. A date that is not
        a session of this market gives an empty frame."""
        return self._day.frame(self._session_index.get(session))

    def adjusted_day_bars(self, session: dt.date, as_of: dt.date | None = None) -> pd.DataFrame:
        """day_bars split-adjusted as of `as_of` (default: the range's end), like Polygon's
        adjusted=true: prices / factor (4 decimals), volume * factor."""
        return self._adjust(self.day_bars(session), session, as_of)

    def minute_cache_path(self, session: dt.date) -> Path | None:
        """Where the session's minute bars are cached (None without cache_dir)."""
        return self._minutes.path(session)

    def minute_bars(self, session: dt.date, tickers: list[str] | None = None) -> pd.DataFrame:
        """RAW minute bars (04:00-20:00 New York; regular hours denser; half days close 13:00),
        same columns as day_bars minus `otc`, sorted by (ticker, window_start). Vectorised and
        cached on disk (cache_dir): 10,000 tickers => >= 1.5M rows in a few seconds.
        With `tickers`, only those (unknown ones have no rows); the rows are exactly the whole
        session's rows for them. A date that is not a session of this market gives an empty
        frame."""
        k = self._session_index.get(session)
        if k is None:
            return empty_bars(MINUTE_COLUMNS)
        frame = self._minutes.get(session, lambda: self._generate_minutes(session, k))
        if tickers is None:
            return frame
        return frame[frame["ticker"].isin(list(tickers))].reset_index(drop=True)

    def _generate_minutes(self, session: dt.date, k: int) -> pd.DataFrame:
        symbols = self._day.symbols_at(k)
        frame = generate_minutes(self.seed, session, self._day.arrays(k), symbols)
        if frame["ticker"].is_monotonic_increasing:
            return frame
        return frame.sort_values(["ticker", "window_start"], kind="stable", ignore_index=True)

    def adjusted_minute_bars(
        self, session: dt.date, tickers: list[str] | None = None, as_of: dt.date | None = None
    ) -> pd.DataFrame:
        """minute_bars split-adjusted as of `as_of` (default: the range's end)."""
        return self._adjust(self.minute_bars(session, tickers), session, as_of)

    def _adjust(self, frame: pd.DataFrame, session: dt.date, as_of: dt.date | None) -> pd.DataFrame:
        factors = self.split_factors(session, self.end if as_of is None else as_of)
        if not factors or frame.empty:
            return frame
        factor = frame["ticker"].map(factors).fillna(1.0).to_numpy(dtype=np.float64)
        frame = frame.copy()
        for column in ("open", "high", "low", "close", "vwap"):
            frame[column] = np.round(frame[column].to_numpy() / factor, 4)
        frame["volume"] = np.round(frame["volume"].to_numpy() * factor, 4)
        return frame

"""Splits and cash dividends of the universe, drawn after it from the same generator.

A split moves the raw price on its execution_date by split_to/split_from (the model's value
path is continuous); dividends do not move prices.
"""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd

from finance_pipeline.sandbox.market.profiles import (
    DIVIDEND_SHARE,
    MIN_PRICE,
    REAL_SPLITS,
    SPECIALS,
)
from finance_pipeline.sandbox.market.seeding import (
    event_id,
    weekday_on_or_after,
    weekday_on_or_before,
)
from finance_pipeline.sandbox.market.universe import Universe

DIVIDEND_EVERY = 63  # sessions between quarterly ex-dates
DIVIDEND_COLUMNS = [
    "id",
    "ticker",
    "cash_amount",
    "currency",
    "declaration_date",
    "ex_dividend_date",
    "record_date",
    "pay_date",
    "frequency",
    "dividend_type",
]


class Splits:
    """The range's splits: real ones of watchlist names inside the range (else NVDA 2-for-1
    at the middle session), plus forward and reverse splits of generated common stocks. Picking
    a name moves its start level (`universe.level`) to a price that makes the split plausible."""

    def __init__(
        self,
        rng: np.random.Generator,
        universe: Universe,
        sessions: list[dt.date],
        seed: int,
        tickers: int,
    ) -> None:
        self._universe = universe
        self._sessions = sessions
        self._seed = seed
        rows = self._real_rows(universe, sessions)
        rows += self._generated_rows(rng, universe, len(sessions), tickers)
        rows.sort(key=lambda r: (universe.symbols[r[0]], r[1]))
        self.ticker = np.array([r[0] for r in rows], dtype=np.int64)  # universe index
        self.session = np.array([r[1] for r in rows], dtype=np.int64)  # session index
        self.split_from = np.array([r[2] for r in rows])
        self.split_to = np.array([r[3] for r in rows])
        self.ratio = self.split_to / self.split_from
        self.dates: dict[str, list[tuple[dt.date, float]]] = {}
        self.by_ticker: dict[int, list[tuple[int, float]]] = {}
        for t, k, ratio in zip(self.ticker, self.session, self.ratio, strict=True):
            self.dates.setdefault(universe.symbols[t], []).append((sessions[k], float(ratio)))
            self.by_ticker.setdefault(int(t), []).append((int(k), float(ratio)))

    @staticmethod
    def _real_rows(
        universe: Universe, sessions: list[dt.date]
    ) -> list[tuple[int, int, float, float]]:
        index = {day: k for k, day in enumerate(sessions)}
        rows = [
            (universe.ticker_index[ticker], index[day], split_from, split_to)
            for ticker, day, split_from, split_to in REAL_SPLITS
            if sessions[0] <= day <= sessions[-1] and day in index
        ]
        return rows or [(universe.ticker_index["NVDA"], len(sessions) // 2, 1.0, 2.0)]

    @staticmethod
    def _generated_rows(
        rng: np.random.Generator, u: Universe, n_sessions: int, tickers: int
    ) -> list[tuple[int, int, float, float]]:
        years = n_sessions / 252.0
        eligible = np.flatnonzero(
            ~u.special & ~u.is_otc & (u.types == "CS") & (u.delist_k - u.list_k >= 2)
        )
        at_least = 1 if tickers >= 50 else 0
        n_forward = max(at_least, round(len(eligible) * 0.005 * years))
        n_reverse = max(at_least, round(len(eligible) * 0.007 * years))
        picked = rng.permutation(eligible)[: n_forward + n_reverse]
        rows: list[tuple[int, int, float, float]] = []
        for j, i in enumerate(picked):
            lo, hi = u.list_k[i] + 1, u.delist_k[i]  # trades before and on the split
            k = int(lo + rng.integers(0, hi - lo))
            if j < n_forward:
                u.level[i] = rng.uniform(150, 700)
                rows.append((int(i), k, 1.0, float(rng.choice([2.0, 3.0, 4.0]))))
            else:
                u.level[i] = rng.uniform(0.15, 1.5)
                rows.append((int(i), k, float(rng.choice([10.0, 10.0, 5.0, 20.0])), 1.0))
        return rows

    def adjustment(self, k: int) -> np.ndarray:
        """Per ticker: raw price per unit of start-of-range value at session k (1 / splits
        executed in (first session, k])."""
        factor = np.ones(len(self._universe.symbols))
        done = (self.session <= k) & (self.session > 0)
        np.multiply.at(factor, self.ticker[done], self.ratio[done])
        return 1.0 / factor

    def frame(self) -> pd.DataFrame:
        """See `Market.splits` (the first row appears twice: a vendor defect)."""
        symbols, sessions = self._universe.symbols, self._sessions
        frame = pd.DataFrame(
            {
                "id": [
                    event_id(self._seed, "split", symbols[t], sessions[k])
                    for t, k in zip(self.ticker, self.session, strict=True)
                ],
                "ticker": symbols[self.ticker],
                "execution_date": [sessions[k] for k in self.session],
                "split_from": self.split_from,
                "split_to": self.split_to,
            }
        )
        return pd.concat([frame.iloc[:1], frame], ignore_index=True)

    def factor(self, ticker: str, session: dt.date, as_of: dt.date) -> float:
        """Product of split_to/split_from over splits with session < execution_date <= as_of."""
        factor = 1.0
        for day, ratio in self.dates.get(ticker, ()):
            if session < day <= as_of:
                factor *= ratio
        return factor


class Dividends:
    """Quarterly cash dividends of the payers among the listings (specials: their own)."""

    def __init__(
        self,
        rng: np.random.Generator,
        universe: Universe,
        sessions: list[dt.date],
        splits: Splits,
        seed: int,
    ) -> None:
        u = universe
        n = len(u.symbols)
        pays = np.zeros(n, dtype=bool)
        draw = rng.random(n)
        for kind, probability in DIVIDEND_SHARE.items():
            pays |= (u.types == kind) & (draw < probability)
        pays &= ~u.is_otc
        yields = np.where(u.types == "PFD", 0.06, rng.uniform(0.01, 0.05, size=n))
        self._amount = np.maximum(np.round(u.level * yields / 4, 2), 0.01)
        phase = rng.integers(0, DIVIDEND_EVERY, size=n)
        self._declare_lag = rng.integers(14, 35, size=n)
        self._pay_lag = rng.integers(10, 30, size=n)
        for symbol, spec in SPECIALS.items():
            i = u.ticker_index[symbol]
            pays[i] = spec.dividend > 0
            self._amount[i] = spec.dividend
        self._rows = [
            (int(i), k)
            for i in np.flatnonzero(pays)
            for k in range(int(phase[i]), int(u.delist_k[i]), DIVIDEND_EVERY)
            if k >= u.list_k[i]
        ]
        self._universe, self._sessions, self._splits, self._seed = u, sessions, splits, seed
        self.payers = {i for i, _ in self._rows}  # universe indices with a dividend
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None

    def frame(self) -> pd.DataFrame:
        """See `Market.dividends` (built once, a copy each call)."""
        with self._lock:
            if self._frame is None:
                self._frame = self._build_frame()
            return self._frame.copy()

    def _build_frame(self) -> pd.DataFrame:
        records = []
        for i, k in self._rows:
            ex = self._sessions[k]
            symbol = self._universe.symbols[i]
            executed = [r for s, r in self._splits.by_ticker.get(i, ()) if 0 < s <= k]
            cash = round(float(self._amount[i] / np.prod(executed)), 4)
            pay_lag = dt.timedelta(days=int(self._pay_lag[i]))
            records.append(
                {
                    "id": event_id(self._seed, "dividend", symbol, ex),
                    "ticker": symbol,
                    "cash_amount": max(cash, MIN_PRICE),
                    "currency": "USD",
                    "declaration_date": weekday_on_or_before(
                        ex - dt.timedelta(days=int(self._declare_lag[i]))
                    ),
                    "ex_dividend_date": ex,
                    "record_date": weekday_on_or_after(ex + dt.timedelta(days=1)),
                    "pay_date": weekday_on_or_after(ex + pay_lag),
                    "frequency": 4,
                    "dividend_type": "CD",
                }
            )
        frame = pd.DataFrame.from_records(records, columns=DIVIDEND_COLUMNS)
        frame["frequency"] = frame["frequency"].astype(np.int64)
        frame["cash_amount"] = frame["cash_amount"].astype(np.float64)
        return frame.sort_values(["ticker", "ex_dividend_date"], ignore_index=True)

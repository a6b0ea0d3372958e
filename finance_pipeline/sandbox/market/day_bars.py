"""Day bars: each ticker's log value follows a slowly mean-reverting random walk over the whole
range (continuous across sessions); a session's open/high/low/close, volume and trades are
drawn around it, and the raw price is that value divided by the splits executed so far."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from finance_pipeline.sandbox.market.corporate_actions import Splits
from finance_pipeline.sandbox.market.profiles import MIN_PRICE
from finance_pipeline.sandbox.market.seeding import DAY_COLUMNS, empty_bars, ny_ns, rng
from finance_pipeline.sandbox.market.universe import Universe

PHI = 0.999  # AR(1) coefficient of the log value: keeps 10-year paths in a plausible band
DAY_MEMO = 64


@dataclass(frozen=True)
class DayArrays:
    """One session's day bars as arrays over the tickers that traded (universe order)."""

    idx: np.ndarray  # universe indices, ascending (= sorted by ticker)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    vwap: np.ndarray
    minute_volume: np.ndarray  # int64: sum of minute volumes
    minute_trades: np.ndarray  # int64: sum of minute transactions
    odd_volume: np.ndarray  # int64
    odd_trades: np.ndarray  # int64


def round_price(values: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(values, 4), MIN_PRICE)


class DayBars:
    """Day bars per session index; the last DAY_MEMO sessions' arrays are memoised and the
    whole range's log-value path is computed once, on first use."""

    def __init__(
        self,
        seed: int,
        sessions: list[dt.date],
        universe: Universe,
        splits: Splits,
        symbols_at: Callable[[int], np.ndarray] | None = None,
    ) -> None:
        self._seed = seed
        # Each listing's ticker on a session (renames and reuses change it), universe order.
        self.symbols_at = symbols_at or (lambda k: universe.symbols)
        self._sessions = sessions
        self._universe = universe
        self._splits = splits
        self._lock = threading.Lock()
        self._path: np.ndarray | None = None
        self.arrays = lru_cache(maxsize=DAY_MEMO)(self._compute)

    def _paths(self) -> np.ndarray:
        """Log value of every ticker at every session's close: shape (sessions, tickers)."""
        with self._lock:
            if self._path is None:
                sigma = self._universe.sigma
                path = np.empty((len(self._sessions), len(sigma)))
                x = np.zeros(len(sigma))
                for k, day in enumerate(self._sessions):
                    z = rng(self._seed, "path", day.toordinal()).standard_normal(len(sigma))
                    x = PHI * x + sigma * z
                    path[k] = x
                self._path = path
            return self._path

    def _compute(self, k: int) -> DayArrays:
        u = self._universe
        n = len(u.symbols)
        draws = rng(self._seed, "day", self._sessions[k].toordinal())
        u_trade = draws.random(n)
        z_gap, z_high, z_low = draws.standard_normal((3, n))
        z_trades, z_size = draws.standard_normal((2, n))
        u_odd, u_vwap = draws.random((2, n))

        path = self._paths()
        listed = (u.list_k <= k) & (k < u.delist_k)
        idx = np.flatnonzero(listed & (u_trade < u.p_trade))
        scale = u.level[idx] * self._splits.adjustment(k)[idx]
        sigma = u.sigma[idx]
        previous = path[k - 1, idx] if k > 0 else np.zeros(len(idx))
        close = scale * np.exp(path[k, idx])
        open_ = scale * np.exp(previous + 0.3 * sigma * z_gap[idx])
        high = np.maximum(open_, close) * np.exp(0.6 * sigma * np.abs(z_high[idx]))
        low = np.minimum(open_, close) * np.exp(-0.6 * sigma * np.abs(z_low[idx]))
        open_, high, low, close = (round_price(v) for v in (open_, high, low, close))
        vwap = np.round(low + (high - low) * (0.3 + 0.4 * u_vwap[idx]), 4)

        trades = np.maximum(1, np.round(u.trades[idx] * np.exp(0.45 * z_trades[idx])))
        volume = np.maximum(trades, np.round(trades * u.size[idx] * np.exp(0.3 * z_size[idx])))
        odd_volume = np.floor(u_odd[idx] * np.minimum(100.0, np.ceil(volume * 0.01)))
        odd_trades = (odd_volume.astype(np.int64) + 39) // 40
        return DayArrays(
            idx=idx,
            open=open_,
            high=high,
            low=low,
            close=close,
            vwap=vwap,
            minute_volume=volume.astype(np.int64),
            minute_trades=trades.astype(np.int64),
            odd_volume=odd_volume.astype(np.int64),
            odd_trades=odd_trades,
        )

    def frame(self, k: int | None) -> pd.DataFrame:
        """The day bars of session index `k` (None: not a session, no rows)."""
        if k is None:
            return empty_bars(DAY_COLUMNS)
        day = self.arrays(k)
        session = self._sessions[k]
        frame = pd.DataFrame(
            {
                "ticker": self.symbols_at(k)[day.idx],
                "open": day.open,
                "high": day.high,
                "low": day.low,
                "close": day.close,
                "volume": (day.minute_volume + day.odd_volume).astype(np.float64),
                "vwap": day.vwap,
                "transactions": day.minute_trades + day.odd_trades,
                "window_start": np.full(len(day.idx), ny_ns(session), dtype=np.int64),
                "otc": self._universe.is_otc[day.idx],
            },
            columns=DAY_COLUMNS,
        )
        if not frame["ticker"].is_monotonic_increasing:
            frame = frame.sort_values("ticker", kind="stable", ignore_index=True)
        return frame

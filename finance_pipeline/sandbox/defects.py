"""Vendor data defects the sandbox can inject (knobs of `Faults`, which inherits them; each
lasts until `Faults.clear()`):

- `garbage_tickers(session, count=3)`: grouped daily of that session also carries `count`
  made-up tickers (GARBAGE_TICKERS, in no reference data) with absurd prices that jump by
  orders of magnitude from one session to the next (the real 2020-04-07..14 defect);
- `bogus_split(ticker, execution_date, split_from, split_to)`: both splits endpoints also
  carry a split row the market did not do (prices do not move by it): a wrong row, or, with a
  real split's ratio on another date, a duplicated one (v1's factors then include it, as the
  vendor's would);
- `unlisted_ticker(ticker)`: reference tickers leave out a ticker that still trades;
- `remove_endpoint(endpoint)`: the endpoint answers 404 NOT_FOUND, like a deprecated endpoint
  once the vendor removed it (e.g. "v1_splits", to exercise the v3 fallback).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

import pandas as pd

from finance_pipeline.sandbox.rest import routes

GARBAGE_TICKERS = ("ZQXGB", "ZQXGC", "ZQXGD", "ZQXGE", "ZQXGF")
_GARBAGE_PRICES = (0.0001, 98765.4321, 0.0203, 123456.0)
_PRICES = ["open", "high", "low", "close", "vwap"]


def session_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def check_endpoint(endpoint: str | None, allowed: Iterable[str]) -> str | None:
    allowed = tuple(allowed)
    if endpoint is not None and endpoint not in allowed:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(allowed)}")
    return endpoint


class DefectFaults:
    """The defect knobs; `Faults` provides the lock and calls `_init_defects`/`_clear_defects`."""

    _lock: threading.Lock

    def _init_defects(self) -> None:
        self._garbage: dict[dt.date, int] = {}
        self._bogus_splits: list[tuple[str, dt.date, float, float]] = []
        self._unlisted: set[str] = set()
        self._removed: set[str] = set()

    def _clear_defects(self) -> None:
        """Called with the lock held."""
        self._garbage.clear()
        self._bogus_splits.clear()
        self._unlisted.clear()
        self._removed.clear()

    def garbage_tickers(self, session: dt.date | str, count: int = 3) -> None:
        if not 1 <= count <= len(GARBAGE_TICKERS):
            raise ValueError(f"count must be within 1..{len(GARBAGE_TICKERS)}, got {count}")
        with self._lock:
            self._garbage[session_date(session)] = count

    def garbage(self, session: dt.date, frame: pd.DataFrame) -> pd.DataFrame:
        """Grouped daily rows of `session` with its garbage tickers appended."""
        with self._lock:
            count = self._garbage.get(session, 0)
        if not count or frame.empty:
            return frame
        rows = frame.iloc[[0] * count].copy()
        rows["ticker"] = list(GARBAGE_TICKERS[:count])
        for i, index in enumerate(rows.index[:count]):
            price = _GARBAGE_PRICES[(session.toordinal() + i) % len(_GARBAGE_PRICES)]
            rows.loc[index, _PRICES] = price
        rows["otc"] = False
        return pd.concat([frame, rows], ignore_index=True)

    # ---- reference data -------------------------------------------------------------------
    def bogus_split(
        self, ticker: str, execution_date: dt.date | str, split_from: float, split_to: float
    ) -> None:
        if split_from <= 0 or split_to <= 0:
            raise ValueError("split_from and split_to must be > 0")
        row = (ticker, session_date(execution_date), float(split_from), float(split_to))
        with self._lock:
            self._bogus_splits.append(row)

    def bogus_splits(self) -> list[tuple[str, dt.date, float, float]]:
        with self._lock:
            return list(self._bogus_splits)

    def unlisted_ticker(self, ticker: str) -> None:
        with self._lock:
            self._unlisted.add(ticker)

    def remove_endpoint(self, endpoint: str) -> None:
        check_endpoint(endpoint, routes.ENDPOINTS)
        with self._lock:
            self._removed.add(endpoint)

    def is_removed(self, endpoint: str) -> bool:
        with self._lock:
            return endpoint in self._removed

    def unlisted(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._unlisted)

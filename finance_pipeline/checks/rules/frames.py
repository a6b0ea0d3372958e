"""Bar-frame helpers the rules share: exchange test symbols, OTC rows, relative differences."""

from __future__ import annotations

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
# Exchange test symbols appear in market data; filtered on both sides of every comparison.
TEST_SYMBOLS = frozenset({"ZVZZT", "ZWZZT", "ZXZZT"})


def is_test_symbol(ticker: str) -> bool:
    return ticker in TEST_SYMBOLS or "TEST" in ticker


def exchange_test_mask(tickers: pd.Series) -> pd.Series:
    """True where the ticker is an exchange test symbol."""
    values = tickers.astype("string")
    return (values.isin(TEST_SYMBOLS) | values.str.contains("TEST", regex=False)).fillna(False)


def drop_test_symbols(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The frame without exchange test symbols, and how many rows were dropped."""
    if frame.empty:
        return frame, 0
    mask = exchange_test_mask(frame["ticker"])
    return frame.loc[~mask], int(mask.sum())


def without_otc(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows not flagged OTC (grouped daily's `otc` column), and how many were dropped. Flat
    files carry SIP data only, so OTC names from grouped daily with include_otc have no
    counterpart there."""
    if "otc" not in frame.columns or frame.empty:
        return frame, 0
    otc = frame["otc"].fillna(False).astype(bool)
    return frame.loc[~otc], int(otc.sum())


def rel_diff(left: pd.Series, right: pd.Series) -> pd.Series:
    """Symmetric relative difference |a - b| / max(|a|, |b|): 0 when equal (both NaN counts as
    equal), 1.0 when exactly one side is missing."""
    a = pd.to_numeric(left, errors="coerce").astype("float64").to_numpy()
    b = pd.to_numeric(right, errors="coerce").astype("float64").to_numpy()
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
    a_nan, b_nan = np.isnan(a), np.isnan(b)
    diff = np.where(a_nan & b_nan, 0.0, diff)
    diff = np.where(a_nan ^ b_nan, 1.0, diff)
    return pd.Series(diff, index=left.index, dtype="float64")

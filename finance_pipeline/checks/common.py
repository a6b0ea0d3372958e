"""Pieces every check shares: exchange test symbols, relative differences, verdicts.

Pure Python and pandas; no Dagster here, so the comparison and quality logic can be tested on
small frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
# Exchange test symbols appear in market data; filtered on both sides of every comparison.
TEST_SYMBOLS = frozenset({"ZVZZT", "ZWZZT", "ZXZZT"})
# How many offending tickers a check names in its metadata.
OFFENDERS_SHOWN = 10


class Severity(StrEnum):
    """Mirrors dagster.AssetCheckSeverity (kept here so the pure logic has no Dagster import)."""

    WARN = "WARN"
    ERROR = "ERROR"


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


def first_few(tickers: Iterable[str], limit: int = OFFENDERS_SHOWN) -> list[str]:
    """Distinct tickers in first-seen order, at most `limit`."""
    seen: dict[str, None] = {}
    for ticker in tickers:
        seen.setdefault(str(ticker), None)
        if len(seen) >= limit:
            break
    return list(seen)


def offenders_text(tickers: Iterable[str], total: int | None = None) -> str:
    """Offending tickers for metadata: 'A, B, C (+12 more)'; empty string when none."""
    shown = first_few(tickers)
    text = ", ".join(shown)
    if total is not None and total > len(shown):
        text += f" (+{total - len(shown)} more)"
    return text


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check on one session: passed, or failed at a severity, with numbers."""

    passed: bool
    severity: Severity = Severity.ERROR
    description: str = ""
    metadata: dict[str, object] = field(default_factory=dict)

    @classmethod
    def ok(cls, description: str, **metadata: object) -> Verdict:
        return cls(True, Severity.ERROR, description, dict(metadata))

    @classmethod
    def warn(cls, description: str, **metadata: object) -> Verdict:
        return cls(False, Severity.WARN, description, dict(metadata))

    @classmethod
    def error(cls, description: str, **metadata: object) -> Verdict:
        return cls(False, Severity.ERROR, description, dict(metadata))

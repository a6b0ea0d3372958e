"""Compare two data paths for the same session: the reconciliation rules.

Join on the New York session (day bars) or the bar's window start (minute bars), never on the
source's own timestamp convention. Exchange test symbols are dropped on both sides first.
Tolerances follow reference/polygon.md: prices agree to a relative 1e-4 (REST sends about four
decimals); volumes drift with the vendor's late corrections, which is tolerable (WARN) unless the
difference is gross; any open/high/low/close mismatch is an ERROR.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from finance_pipeline.checks.rules.frames import (
    PRICE_COLUMNS,
    drop_test_symbols,
    is_test_symbol,
    rel_diff,
)
from finance_pipeline.checks.rules.verdicts import Verdict, first_few, offenders_text
from finance_pipeline.registry import FLAT_FILE_DAY_AGGS, FLAT_FILE_MINUTE_AGGS


@dataclass(frozen=True)
class Tolerance:
    price_rel: float = 1e-4  # open/high/low/close: beyond this is a mismatch (ERROR)
    volume_rel: float = 1e-4  # volume: beyond this is drift (WARN) ...
    volume_error_rel: float = 0.5  # ... and beyond this it is wrong data (ERROR)
    # Share of keys present on one side only above which the gap is an ERROR (below: WARN).
    missing_error_share: float = 0.05


@dataclass(frozen=True)
class Comparison:
    """Counts and worst differences between a left and a right path."""

    left: str
    right: str
    rows_compared: int  # keys present on both sides
    matched: int  # of those, every column within tolerance
    price_mismatched: int
    volume_mismatched: int
    only_left: int
    only_right: int
    max_rel_diff_by_column: dict[str, float]
    price_offenders: list[str] = field(default_factory=list)  # worst first
    volume_offenders: list[str] = field(default_factory=list)  # worst first
    only_left_tickers: list[str] = field(default_factory=list)
    only_right_tickers: list[str] = field(default_factory=list)
    price_offender_count: int = 0  # distinct tickers
    volume_offender_count: int = 0
    test_symbols_dropped: int = 0

    @property
    def mismatched(self) -> int:
        return self.rows_compared - self.matched

    @property
    def max_rel_diff(self) -> float:
        return max(self.max_rel_diff_by_column.values(), default=0.0)

    @property
    def missing_share(self) -> float:
        union = self.rows_compared + self.only_left + self.only_right
        return (self.only_left + self.only_right) / union if union else 0.0

    def offenders(self) -> str:
        """The first few offending tickers, price mismatches first, then gaps, then volume."""
        tickers = [
            *self.price_offenders,
            *self.only_left_tickers,
            *self.only_right_tickers,
            *self.volume_offenders,
        ]
        return offenders_text(tickers)

    def metadata(self) -> dict[str, object]:
        return {
            "rows_compared": self.rows_compared,
            "matched": self.matched,
            "mismatched": self.mismatched,
            "only_left": self.only_left,
            "only_right": self.only_right,
            "max_rel_diff": float(self.max_rel_diff),
            "offenders": self.offenders(),
            "price_mismatched": self.price_mismatched,
            "volume_mismatched": self.volume_mismatched,
            "left": self.left,
            "right": self.right,
            "only_left_tickers": offenders_text(self.only_left_tickers, self.only_left),
            "only_right_tickers": offenders_text(self.only_right_tickers, self.only_right),
            **{
                f"max_rel_diff_{column}": float(value)
                for column, value in self.max_rel_diff_by_column.items()
            },
        }

    def verdict(self, tolerance: Tolerance = Tolerance()) -> Verdict:
        """ERROR for price mismatches, gross volume differences, large gaps or no overlap at
        all; WARN for volume drift and a few keys on one side only; pass otherwise."""
        meta = self.metadata()
        pair = f"{self.left} vs {self.right}"
        volume_max = self.max_rel_diff_by_column.get("volume", 0.0)
        if self.rows_compared == 0 and (self.only_left or self.only_right):
            return Verdict.error(
                f"{pair}: no common rows ({self.only_left} only in {self.left}, "
                f"{self.only_right} only in {self.right}): different sessions or an empty side",
                **meta,
            )
        if self.price_mismatched:
            return Verdict.error(
                f"{pair}: {self.price_mismatched} of {self.rows_compared} rows differ in "
                f"open/high/low/close by more than {tolerance.price_rel:g} relative "
                f"({self.price_offender_count} tickers): {offenders_text(self.price_offenders)}",
                **meta,
            )
        if volume_max > tolerance.volume_error_rel:
            return Verdict.error(
                f"{pair}: volume differs by up to {volume_max:.1%}, more than late corrections "
                f"explain ({tolerance.volume_error_rel:.0%}): "
                f"{offenders_text(self.volume_offenders)}",
                **meta,
            )
        if self.missing_share > tolerance.missing_error_share:
            return Verdict.error(
                f"{pair}: {self.missing_share:.1%} of keys are on one side only "
                f"(limit {tolerance.missing_error_share:.0%}): {self.offenders()}",
                **meta,
            )
        if self.volume_mismatched or self.only_left or self.only_right:
            return Verdict.warn(
                f"{pair}: prices agree; {self.volume_mismatched} rows with volume drift (max "
                f"{volume_max:.2%}), {self.only_left} only in {self.left}, {self.only_right} "
                f"only in {self.right}: {self.offenders()}",
                **meta,
            )
        return Verdict.ok(f"{pair}: all {self.rows_compared} rows agree", **meta)


def _normalize_keys(frame: pd.DataFrame, on: tuple[str, ...]) -> pd.DataFrame:
    """Key columns in one comparable form: ticker as str, session as a date, times in UTC."""
    frame = frame.copy()
    for column in on:
        if column == "ticker":
            frame[column] = frame[column].astype(str)
        elif column == "session":
            frame[column] = pd.to_datetime(frame[column]).dt.date
        elif column == "window_start":
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    return frame


def _worst_tickers(frame: pd.DataFrame, mask: pd.Series, score: pd.Series) -> list[str]:
    """Distinct tickers where `mask`, worst `score` first (ties by ticker)."""
    if not mask.any():
        return []
    hits = pd.DataFrame({"ticker": frame.loc[mask, "ticker"], "score": score[mask]})
    hits = hits.sort_values(["score", "ticker"], ascending=[False, True])
    return hits["ticker"].drop_duplicates().tolist()


def _join(
    left: pd.DataFrame, right: pd.DataFrame, on: tuple[str, ...], columns: list[str]
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Outer join on `on` (one row per key and side): the rows on both sides, and the tickers
    of the keys on the left only and on the right only."""
    left = _normalize_keys(left[[*on, *columns]], on).drop_duplicates(list(on))
    right = _normalize_keys(right[[*on, *columns]], on).drop_duplicates(list(on))
    joined = left.merge(right, on=list(on), how="outer", suffixes=("_l", "_r"), indicator=True)
    both = joined[joined["_merge"] == "both"].reset_index(drop=True)
    only_left = joined.loc[joined["_merge"] == "left_only", "ticker"]
    only_right = joined.loc[joined["_merge"] == "right_only", "ticker"]
    return both, only_left, only_right


def _column_diffs(
    both: pd.DataFrame, columns: list[str], volume_at_most: bool
) -> dict[str, pd.Series]:
    """Per compared column, the relative difference of the two sides on each common key."""
    diffs: dict[str, pd.Series] = {}
    for column in columns:
        a, b = both[f"{column}_l"], both[f"{column}_r"]
        if column == "volume" and volume_at_most:
            excess = pd.to_numeric(a, errors="coerce") > pd.to_numeric(b, errors="coerce")
            diffs[column] = rel_diff(a, b).where(excess | a.isna() | b.isna(), 0.0)
        else:
            diffs[column] = rel_diff(a, b)
    return diffs


def _compare(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    on: tuple[str, ...],
    left_name: str,
    right_name: str,
    price_columns: tuple[str, ...],
    volume_at_most: bool,
    tolerance: Tolerance,
    dropped: int,
) -> Comparison:
    """The shared core: outer join on `on`, per-column relative differences on common keys.

    volume_at_most: left volume may be below right volume (minute sums vs the day); only an
    excess counts. Otherwise volumes must be equal within tolerance.
    """
    columns = [c for c in (*price_columns, "volume") if c in left.columns and c in right.columns]
    both, only_left, only_right = _join(left, right, on, columns)
    diffs = _column_diffs(both, columns, volume_at_most)
    zero = pd.Series(0.0, index=both.index)
    price_diffs = [diffs[c] for c in columns if c != "volume"]
    price_score = pd.concat(price_diffs, axis=1).max(axis=1) if price_diffs else zero
    price_mask = price_score > tolerance.price_rel if price_diffs else zero.astype(bool)
    volume_score = diffs.get("volume", zero)
    volume_mask = volume_score > tolerance.volume_rel
    price_offenders = _worst_tickers(both, price_mask, price_score)
    volume_offenders = _worst_tickers(both, volume_mask & ~price_mask, volume_score)
    return Comparison(
        left=left_name,
        right=right_name,
        rows_compared=len(both),
        matched=int((~(price_mask | volume_mask)).sum()),
        price_mismatched=int(price_mask.sum()),
        volume_mismatched=int((volume_mask & ~price_mask).sum()),
        only_left=len(only_left),
        only_right=len(only_right),
        max_rel_diff_by_column={
            column: float(np.nanmax(diff.to_numpy())) if len(diff) else 0.0
            for column, diff in diffs.items()
        },
        price_offenders=first_few(price_offenders),
        volume_offenders=first_few(volume_offenders),
        only_left_tickers=first_few(sorted(only_left.unique())),
        only_right_tickers=first_few(sorted(only_right.unique())),
        price_offender_count=len(price_offenders),
        volume_offender_count=len(volume_offenders),
        test_symbols_dropped=dropped,
    )


def compare_bars(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    on: tuple[str, ...] = ("ticker", "session"),
    left_name: str = "left",
    right_name: str = "right",
    tolerance: Tolerance = Tolerance(),
) -> Comparison:
    """Compare two bar frames row by row on `on`: ("ticker", "session") for day bars,
    ("ticker", "window_start") for minute bars. Prices within `tolerance.price_rel`, volumes
    within `tolerance.volume_rel`; columns missing on either side are not compared."""
    left, dropped_left = drop_test_symbols(left)
    right, dropped_right = drop_test_symbols(right)
    return _compare(
        left,
        right,
        on=on,
        left_name=left_name,
        right_name=right_name,
        price_columns=PRICE_COLUMNS,
        volume_at_most=False,
        tolerance=tolerance,
        dropped=dropped_left + dropped_right,
    )


def minute_extremes(minutes: pd.DataFrame) -> pd.DataFrame:
    """Per ticker: the highest minute high, lowest minute low and summed minute volume."""
    if minutes.empty:
        return pd.DataFrame({"ticker": [], "high": [], "low": [], "volume": []})
    grouped = minutes.groupby("ticker", sort=True).agg(
        high=("high", "max"), low=("low", "min"), volume=("volume", "sum")
    )
    return grouped.reset_index()


def compare_minutes_to_days(
    minutes: pd.DataFrame,
    days: pd.DataFrame,
    *,
    left_name: str = FLAT_FILE_MINUTE_AGGS,
    right_name: str = FLAT_FILE_DAY_AGGS,
    tolerance: Tolerance = Tolerance(),
) -> Comparison:
    """One session's minute bars against its day bars, per ticker: the day high is the highest
    minute high and the day low the lowest minute low (within `tolerance.price_rel`); summed
    minute volume may fall short of the day volume (missing minutes) but not exceed it."""
    minutes, dropped_left = drop_test_symbols(minutes)
    days, dropped_right = drop_test_symbols(days)
    return _compare(
        minute_extremes(minutes),
        days,
        on=("ticker",),
        left_name=left_name,
        right_name=right_name,
        price_columns=("high", "low"),
        volume_at_most=True,
        tolerance=tolerance,
        dropped=dropped_left + dropped_right,
    )


def sample_tickers(tickers: pd.Series, session: dt.date, k: int) -> list[str]:
    """A deterministic sample of `k` tickers for `session` (test symbols excluded): the same
    inputs always give the same sample, and the sample rotates from session to session."""
    candidates = sorted(set(tickers.astype(str)) - {t for t in tickers if is_test_symbol(t)})
    if k <= 0 or not candidates:
        return []

    def rank(ticker: str) -> str:
        return hashlib.sha256(f"{session.isoformat()}|{ticker}".encode()).hexdigest()

    return sorted(sorted(candidates, key=rank)[:k])


def skipped(description: str) -> Verdict:
    """A comparison with nothing to compare (a side is not stored yet): passes, `skipped=1`,
    with the counts every reconciliation records, all zero."""
    return Verdict.ok(
        description,
        rows_compared=0,
        matched=0,
        mismatched=0,
        only_left=0,
        only_right=0,
        max_rel_diff=0.0,
        offenders="",
        skipped=1,
    )

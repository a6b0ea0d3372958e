"""Comparison of two data paths on small hand-made frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from finance_pipeline.checks.rules.comparison import (
    Tolerance,
    compare_bars,
    compare_minutes_to_days,
)
from finance_pipeline.checks.rules.verdicts import Severity

SESSION = dt.date(2024, 3, 5)


def day_frame(tickers: list[str], *, session: dt.date = SESSION, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.uniform(10, 500, len(tickers)).round(4)
    return pd.DataFrame(
        {
            "ticker": tickers,
            "session": [session] * len(tickers),
            "open": base,
            "high": (base * 1.02).round(4),
            "low": (base * 0.98).round(4),
            "close": (base * 1.01).round(4),
            "volume": rng.integers(1_000, 1_000_000, len(tickers)).astype("float64"),
        }
    )


TICKERS = ["AAPL", "BRK.A", "KIMpL", "MSFT", "NA", "NVDA", "SPY", "XOM"]


def test_identical_frames_pass() -> None:
    left = day_frame(TICKERS)
    result = compare_bars(left, left.copy(), left_name="a", right_name="b")
    assert (result.rows_compared, result.matched, result.mismatched) == (8, 8, 0)
    assert result.only_left == result.only_right == 0
    assert result.max_rel_diff == 0.0
    verdict = result.verdict()
    assert verdict.passed, verdict.description
    assert verdict.metadata["offenders"] == ""


def test_prices_within_tolerance_match() -> None:
    left = day_frame(TICKERS)
    right = left.copy()
    right["close"] = right["close"] * (1 + 5e-5)  # REST rounding-sized difference
    result = compare_bars(left, right)
    assert result.matched == len(TICKERS)
    assert 0 < result.max_rel_diff < 1e-4
    assert result.verdict().passed


def test_price_mismatch_is_error_and_names_the_worst_ticker_first() -> None:
    left = day_frame(TICKERS)
    right = left.copy()
    right.loc[right["ticker"] == "MSFT", "close"] *= 1.01
    right.loc[right["ticker"] == "NA", "high"] *= 1.5
    result = compare_bars(left, right, left_name="flat", right_name="grouped")
    assert result.price_mismatched == 2
    assert result.mismatched == 2 and result.matched == len(TICKERS) - 2
    assert result.price_offenders == ["NA", "MSFT"]
    assert result.max_rel_diff_by_column["high"] == pytest.approx(1 - 1 / 1.5)
    verdict = result.verdict()
    assert not verdict.passed and verdict.severity is Severity.ERROR
    assert verdict.metadata["offenders"].startswith("NA, MSFT")
    assert "NA" in verdict.description


def test_small_volume_drift_is_warn_with_numbers() -> None:
    left = day_frame(TICKERS)
    right = left.copy()
    right.loc[right["ticker"].isin(["AAPL", "SPY"]), "volume"] *= 1.03
    result = compare_bars(left, right)
    assert result.price_mismatched == 0 and result.volume_mismatched == 2
    verdict = result.verdict()
    assert not verdict.passed and verdict.severity is Severity.WARN
    assert verdict.metadata["volume_mismatched"] == 2
    assert set(verdict.metadata["offenders"].split(", ")) == {"AAPL", "SPY"}
    assert verdict.metadata["max_rel_diff"] == pytest.approx(1 - 1 / 1.03)


def test_gross_volume_difference_is_error() -> None:
    left = day_frame(TICKERS)
    right = left.copy()
    right.loc[right["ticker"] == "XOM", "volume"] *= 3
    verdict = compare_bars(left, right).verdict()
    assert verdict.severity is Severity.ERROR and not verdict.passed
    assert "XOM" in verdict.metadata["offenders"]


def test_missing_ticker_is_counted_per_side() -> None:
    many = [f"T{i:03d}" for i in range(100)]
    left = day_frame(many)
    right = left[left["ticker"] != "T042"]
    result = compare_bars(left, right, left_name="flat", right_name="grouped")
    assert (result.only_left, result.only_right) == (1, 0)
    assert result.only_left_tickers == ["T042"]
    verdict = result.verdict()
    assert verdict.severity is Severity.WARN and not verdict.passed
    assert "T042" in verdict.metadata["offenders"]
    # Above the share limit the gap is an ERROR.
    half = compare_bars(left, left.iloc[:50]).verdict(Tolerance(missing_error_share=0.05))
    assert half.severity is Severity.ERROR and not half.passed


def test_different_sessions_have_no_overlap_and_fail() -> None:
    left = day_frame(TICKERS)
    right = day_frame(TICKERS, session=dt.date(2024, 3, 6))
    result = compare_bars(left, right)
    assert result.rows_compared == 0 and result.only_left == result.only_right == len(TICKERS)
    assert result.verdict().severity is Severity.ERROR


def test_test_symbols_are_filtered_on_both_sides() -> None:
    both = day_frame([*TICKERS, "ZVZZT", "CBOTEST", "ZXZZT"])
    left = both[both["ticker"] != "ZXZZT"]
    right = both[~both["ticker"].isin(["ZVZZT", "CBOTEST"])].copy()
    right.loc[right["ticker"] == "ZXZZT", "close"] *= 2  # a test symbol never counts
    result = compare_bars(left, right)
    assert result.test_symbols_dropped == 3
    assert result.only_left == result.only_right == 0
    assert result.verdict().passed


def test_duplicated_rows_do_not_inflate_counts() -> None:
    left = day_frame(TICKERS)
    doubled = pd.concat([left, left.iloc[:2]], ignore_index=True)
    result = compare_bars(doubled, left)
    assert result.rows_compared == len(TICKERS)


def test_minute_bars_join_on_window_start_across_dtypes() -> None:
    starts = pd.date_range("2024-03-05 14:30", periods=3, freq="min", tz="UTC")
    left = pd.DataFrame(
        {
            "ticker": ["AAPL"] * 3,
            "window_start": starts,
            "open": [1.0, 2.0, 3.0],
            "high": [1.5, 2.5, 3.5],
            "low": [0.5, 1.5, 2.5],
            "close": [1.2, 2.2, 3.2],
            "volume": [10.0, 20.0, 30.0],
        }
    )
    right = left.copy()
    right["window_start"] = right["window_start"].astype("datetime64[ms, UTC]")
    right.loc[1, "low"] = 1.4
    result = compare_bars(left, right.iloc[:2], on=("ticker", "window_start"))
    assert result.rows_compared == 2 and result.price_mismatched == 1 and result.only_left == 1


def minutes_for(day: pd.DataFrame) -> pd.DataFrame:
    """Three minute bars per ticker whose extremes reproduce the day bar."""
    rows = []
    for bar in day.itertuples():
        start = pd.Timestamp(dt.datetime(2024, 3, 5, 9, 30), tz="America/New_York")
        mid = (bar.high + bar.low) / 2
        for i, (high, low) in enumerate([(bar.high, mid), (mid, bar.low), (mid, mid)]):
            rows.append(
                {
                    "ticker": bar.ticker,
                    "window_start": (start + pd.Timedelta(minutes=i)).tz_convert("UTC"),
                    "open": mid,
                    "high": high,
                    "low": low,
                    "close": mid,
                    "volume": bar.volume / 4,  # some volume outside the minutes: normal
                }
            )
    return pd.DataFrame(rows)


def test_minutes_consistent_with_days_pass() -> None:
    days = day_frame(TICKERS)
    result = compare_minutes_to_days(minutes_for(days), days)
    assert result.rows_compared == len(TICKERS) and result.matched == len(TICKERS)
    assert result.verdict().passed


def test_minute_high_above_day_high_is_error() -> None:
    days = day_frame(TICKERS)
    minutes = minutes_for(days)
    minutes.loc[minutes["ticker"] == "NVDA", "high"] *= 1.05
    verdict = compare_minutes_to_days(minutes, days).verdict()
    assert verdict.severity is Severity.ERROR and not verdict.passed
    assert verdict.metadata["offenders"] == "NVDA"


def test_minute_volume_above_day_volume_is_drift() -> None:
    days = day_frame(TICKERS)
    minutes = minutes_for(days)
    minutes.loc[minutes["ticker"] == "SPY", "volume"] *= 1.5  # 3 x 1.5/4 = 1.125 x day
    result = compare_minutes_to_days(minutes, days)
    assert result.volume_mismatched == 1 and result.price_mismatched == 0
    assert result.verdict().severity is Severity.WARN
    assert result.volume_offenders == ["SPY"]

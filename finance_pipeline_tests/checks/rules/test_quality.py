"""Quality rules on small hand-made partitions."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.checks.rules.quality import (
    bar_invariants_verdict,
    exchange_test_symbols_verdict,
    row_count_verdict,
    schema_verdict,
    session_window_verdict,
    unique_keys_verdict,
)
from finance_pipeline.checks.rules.verdicts import Severity

SESSION = dt.date(2024, 7, 3)  # a half day: regular close 13:00, minute bars still to 20:00
NY = "America/New_York"


def bars(tickers: list[str], starts: list[pd.Timestamp], session: dt.date = SESSION):
    n = len(tickers)
    return pd.DataFrame(
        {
            "ticker": tickers,
            "session": [session] * n,
            "window_start": pd.DatetimeIndex(starts).tz_convert("UTC"),
            "open": [10.0] * n,
            "high": [11.0] * n,
            "low": [9.0] * n,
            "close": [10.5] * n,
            "volume": [100.0] * n,
            "vwap": [10.2] * n,
            "transactions": [5] * n,
        }
    )


def day_bars(tickers: list[str], session: dt.date = SESSION) -> pd.DataFrame:
    midnight = pd.Timestamp(dt.datetime.combine(session, dt.time()), tz=NY)
    return bars(tickers, [midnight] * len(tickers), session)


def test_schema_matches_and_differences_are_named() -> None:
    frame = day_bars(["AAPL", "MSFT"])
    frame["otc"] = False
    table = schemas.to_table(frame, schemas.GROUPED_DAILY_BARS, "grouped_daily_bars")
    assert schema_verdict(table.schema, "grouped_daily_bars").passed
    changed = table.schema.set(
        table.schema.get_field_index("volume"), pa.field("volume", pa.int64())
    )
    changed = changed.remove(changed.get_field_index("otc"))
    verdict = schema_verdict(changed, "grouped_daily_bars")
    assert not verdict.passed and verdict.severity is Severity.ERROR
    assert "otc" in verdict.description and "volume is int64" in verdict.description


def test_unique_keys() -> None:
    frame = day_bars(["AAPL", "MSFT", "NA"])
    assert unique_keys_verdict(frame, "flat_file_day_aggs").passed
    doubled = pd.concat([frame, frame[frame["ticker"] == "NA"]], ignore_index=True)
    verdict = unique_keys_verdict(doubled, "flat_file_day_aggs")
    assert not verdict.passed and verdict.severity is Severity.ERROR
    assert verdict.metadata["duplicate_rows"] == 1 and verdict.metadata["offenders"] == "NA"


def test_bar_invariants() -> None:
    frame = day_bars(["AAPL", "MSFT", "NVDA", "SPY"])
    assert bar_invariants_verdict(frame).passed
    frame.loc[0, "open"] = 12.0  # above high
    frame.loc[1, "volume"] = -1.0
    frame.loc[2, "close"] = float("nan")
    verdict = bar_invariants_verdict(frame)
    assert not verdict.passed and verdict.severity is Severity.ERROR
    assert verdict.metadata["ohlc_order_rows"] == 1
    assert verdict.metadata["negative_volume_rows"] == 1
    assert verdict.metadata["missing_price_rows"] == 1
    assert set(verdict.metadata["offenders"].split(", ")) == {"AAPL", "MSFT", "NVDA"}


def test_day_bars_must_start_at_new_york_midnight_of_the_session() -> None:
    assert session_window_verdict(day_bars(["AAPL"]), SESSION, "day").passed
    # A wrong-day file: next session's timestamps filed under this session.
    wrong = day_bars(["AAPL", "MSFT"], dt.date(2024, 7, 5))
    wrong["session"] = SESSION
    verdict = session_window_verdict(wrong, SESSION, "day")
    assert not verdict.passed and verdict.severity is Severity.ERROR
    assert verdict.metadata["window_outside_session_rows"] == 2
    # Grouped daily's 16:00 ET stamp, not normalized, is caught too.
    late = day_bars(["AAPL"])
    late["window_start"] += pd.Timedelta(hours=16)
    assert not session_window_verdict(late, SESSION, "day").passed
    # A session column from another day.
    other = day_bars(["AAPL"], dt.date(2024, 7, 2))
    assert session_window_verdict(other, SESSION, "day").metadata["wrong_session_rows"] == 1


def test_minute_bars_within_extended_hours() -> None:
    day = pd.Timestamp(dt.datetime.combine(SESSION, dt.time()), tz=NY)
    inside = [day + pd.Timedelta(hours=4), day + pd.Timedelta(hours=19, minutes=59)]
    assert session_window_verdict(bars(["A", "B"], inside), SESSION, "minute").passed
    outside = [day + pd.Timedelta(hours=3, minutes=59), day + pd.Timedelta(hours=20)]
    verdict = session_window_verdict(bars(["A", "B"], outside), SESSION, "minute")
    assert not verdict.passed and verdict.metadata["window_outside_session_rows"] == 2


def test_test_symbols_flagged_in_raw_and_refused_in_curated() -> None:
    frame = day_bars(["AAPL", "ZVZZT"])
    raw = exchange_test_symbols_verdict(frame, allowed=True)
    assert raw.passed and raw.metadata["test_symbol_rows"] == 1
    curated = exchange_test_symbols_verdict(frame, allowed=False)
    assert not curated.passed and curated.metadata["offenders"] == "ZVZZT"
    assert exchange_test_symbols_verdict(day_bars(["AAPL"]), allowed=False).passed


def test_row_count_bounds() -> None:
    assert row_count_verdict(10, []).passed
    assert row_count_verdict(60, [100, 110, 90, 120, 100]).passed
    small = row_count_verdict(40, [100, 110, 90, 120, 100])
    assert not small.passed and small.severity is Severity.ERROR
    assert small.metadata["median_recent_rows"] == 100
    assert not row_count_verdict(0, [5, 5, 5]).passed


def test_an_empty_partition_passes_the_row_rules() -> None:
    """rest_fills stores an empty partition when flat files cover the session."""
    frame = schemas.REST_FILLS.empty_table().to_pandas()
    assert unique_keys_verdict(frame, "rest_fills").passed
    assert bar_invariants_verdict(frame).passed
    assert session_window_verdict(frame, SESSION, "minute").passed
    assert exchange_test_symbols_verdict(frame, allowed=False).passed
    assert schema_verdict(schemas.REST_FILLS, "rest_fills").passed

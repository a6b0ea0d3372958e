"""Day and minute bars: the day/minute rule, trading hours, time stamps, invariants."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from finance_pipeline.calendar import NEW_YORK, session_close
from finance_pipeline.sandbox.market import (
    DAY_COLUMNS,
    MINUTE_COLUMNS,
    Market,
)
from finance_pipeline.schemas import KEYS
from finance_pipeline_tests.sandbox.market.support import (
    HALF_DAY,
    NORMAL_DAY,
)

PRICES = ["open", "high", "low", "close", "vwap"]


def ny_minutes(window_start: pd.Series) -> pd.Series:
    """Minutes after New York midnight of each window start."""
    local = pd.to_datetime(window_start, unit="ns", utc=True).dt.tz_convert(NEW_YORK)
    return local.dt.hour * 60 + local.dt.minute


@pytest.mark.parametrize("session", [NORMAL_DAY, HALF_DAY])
def test_day_bars_follow_the_minute_rule_for_every_ticker(market: Market, session) -> None:
    day = market.day_bars(session).set_index("ticker")
    minutes = market.minute_bars(session)
    assert set(minutes["ticker"]) == set(day.index)
    minute_of_day = ny_minutes(minutes["window_start"])
    close = session_close(session).astimezone(NEW_YORK)
    regular = minutes[(minute_of_day >= 9 * 60 + 30) & (minute_of_day < close.hour * 60)]
    assert set(regular["ticker"]) == set(day.index)  # everyone trades in regular hours
    grouped = minutes.groupby("ticker")
    reg_grouped = regular.groupby("ticker")
    pd.testing.assert_series_equal(grouped["high"].max(), day["high"], check_names=False)
    pd.testing.assert_series_equal(grouped["low"].min(), day["low"], check_names=False)
    pd.testing.assert_series_equal(reg_grouped["open"].first(), day["open"], check_names=False)
    pd.testing.assert_series_equal(reg_grouped["close"].last(), day["close"], check_names=False)
    odd_lot = day["volume"] - grouped["volume"].sum()
    assert odd_lot.between(0, 99).all()
    odd_trades = day["transactions"] - grouped["transactions"].sum()
    assert odd_trades.between(0, 3).all()


def test_minute_windows_stay_within_extended_hours(market: Market) -> None:
    normal = ny_minutes(market.minute_bars(NORMAL_DAY)["window_start"])
    assert normal.min() >= 4 * 60 and normal.max() < 20 * 60
    assert (normal < 9 * 60 + 30).any() and (normal >= 16 * 60).any()  # extended hours exist
    half = market.minute_bars(HALF_DAY)
    half_minutes = ny_minutes(half["window_start"])
    assert half_minutes.min() >= 4 * 60 and half_minutes.max() < 17 * 60
    assert (half_minutes >= 13 * 60).any()  # sparse after-hours after the early close
    # Bars per minute: extended hours at most half as dense as regular hours.
    after = (half_minutes >= 13 * 60).sum() / (4 * 60)
    regular = ((half_minutes >= 9 * 60 + 30) & (half_minutes < 13 * 60)).sum() / 210
    assert after < regular / 2
    pre = (normal < 9 * 60 + 30).sum() / 330
    assert pre < ((normal >= 9 * 60 + 30) & (normal < 16 * 60)).sum() / 390 / 2
    assert (half["window_start"] % 60_000_000_000 == 0).all()


def test_day_window_start_is_new_york_midnight_across_dst(market: Market) -> None:
    for session, utc_hour in ((dt.date(2024, 11, 1), 4), (dt.date(2024, 11, 4), 5)):
        stamps = market.day_bars(session)["window_start"].unique()
        assert len(stamps) == 1
        moment = pd.Timestamp(int(stamps[0]), unit="ns", tz="UTC")
        assert moment.hour == utc_hour and moment.tz_convert(NEW_YORK).date() == session


@pytest.mark.parametrize("session", [NORMAL_DAY, HALF_DAY])
def test_ohlc_invariants_rounding_and_unique_keys(market: Market, session) -> None:
    day, minutes = market.day_bars(session), market.minute_bars(session)
    assert list(day.columns) == DAY_COLUMNS and list(minutes.columns) == MINUTE_COLUMNS
    for frame in (day, minutes):
        assert (frame["low"] <= frame[["open", "close", "vwap"]].min(axis=1)).all()
        assert (frame["high"] >= frame[["open", "close", "vwap"]].max(axis=1)).all()
        assert (frame["low"] > 0).all()
        values = frame[PRICES].to_numpy()
        assert np.array_equal(np.round(values, 4), values)
        assert frame["volume"].dtype == np.float64 and (frame["volume"] >= 1).all()
        assert np.array_equal(np.floor(frame["volume"]), frame["volume"])
        assert frame["transactions"].dtype == np.int64 and (frame["transactions"] >= 1).all()
        assert frame["window_start"].dtype == np.int64
    assert day["ticker"].is_unique and day["ticker"].is_monotonic_increasing
    assert not minutes.duplicated(list(KEYS["flat_file_minute_aggs"])).any()
    ordered = minutes.sort_values(["ticker", "window_start"], ignore_index=True)
    pd.testing.assert_frame_equal(ordered, minutes)
    otc = set(market.listings().query("market == 'otc'")["ticker"])
    assert day["otc"].eq(day["ticker"].isin(otc)).all()


def test_ticker_subset_matches_the_whole_session(market: Market) -> None:
    whole = market.minute_bars(NORMAL_DAY)
    subset = market.minute_bars(NORMAL_DAY, ["NA", "AAPL", "NO-SUCH"])
    expected = whole[whole["ticker"].isin(["NA", "AAPL"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(subset, expected)
    assert set(subset["ticker"]) == {"NA", "AAPL"}
    assert market.minute_bars(NORMAL_DAY, ["NO-SUCH"]).empty

"""The synthetic market: determinism, universe, corporate actions and the day/minute rule."""

from __future__ import annotations

import datetime as dt
import io
import math
import re

import numpy as np
import pandas as pd
import pytest

from finance_pipeline.calendar import NEW_YORK, session_close, sessions_between
from finance_pipeline.sandbox.market import (
    DAY_COLUMNS,
    MINUTE_COLUMNS,
    SPECIAL_TICKERS,
    TYPES,
    WATCHLIST_TICKERS,
    Market,
)
from finance_pipeline.schemas import KEYS

START, END = dt.date(2024, 11, 1), dt.date(2024, 12, 31)
NORMAL_DAY = dt.date(2024, 11, 20)
HALF_DAY = dt.date(2024, 11, 29)
THANKSGIVING = dt.date(2024, 11, 28)
PRICES = ["open", "high", "low", "close", "vwap"]


def make_market(**overrides) -> Market:
    params = {"seed": 11, "tickers": 60, "start": START, "end": END}
    params.update(overrides)
    return Market(**params)


@pytest.fixture(scope="module")
def market() -> Market:
    return make_market()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def ny_minutes(window_start: pd.Series) -> pd.Series:
    """Minutes after New York midnight of each window start."""
    local = pd.to_datetime(window_start, unit="ns", utc=True).dt.tz_convert(NEW_YORK)
    return local.dt.hour * 60 + local.dt.minute


def test_same_inputs_give_identical_frames_and_bytes(market: Market) -> None:
    other = make_market()
    frames = [
        (market.listings(), other.listings()),
        (market.splits(), other.splits()),
        (market.dividends(), other.dividends()),
        (market.tickers_as_of(END, True), other.tickers_as_of(END, True)),
        (market.day_bars(NORMAL_DAY), other.day_bars(NORMAL_DAY)),
        (market.minute_bars(HALF_DAY), other.minute_bars(HALF_DAY)),
    ]
    for mine, theirs in frames:
        pd.testing.assert_frame_equal(mine, theirs)
    for mine, theirs in frames[4:]:
        assert parquet_bytes(mine) == parquet_bytes(theirs)
    reseeded = make_market(seed=12).day_bars(NORMAL_DAY)
    assert not reseeded["close"].equals(market.day_bars(NORMAL_DAY)["close"])


def test_a_session_does_not_depend_on_generation_order(market: Market) -> None:
    fresh = make_market()
    for day in (dt.date(2024, 12, 20), dt.date(2024, 11, 4), dt.date(2024, 12, 2)):
        fresh.minute_bars(day)
    pd.testing.assert_frame_equal(fresh.minute_bars(NORMAL_DAY), market.minute_bars(NORMAL_DAY))
    pd.testing.assert_frame_equal(fresh.day_bars(NORMAL_DAY), market.day_bars(NORMAL_DAY))


def test_special_tickers_and_watchlist_trade_every_session(market: Market) -> None:
    listings = market.listings().set_index("ticker")
    assert set(SPECIAL_TICKERS) <= set(listings.index)
    assert listings.loc[["AAPL", "MSFT", "NVDA", "TSLA"], "type"].eq("CS").all()
    assert listings.loc["SPY", "type"] == "ETF"
    assert listings.loc["KIMpL", "type"] == "PFD"
    for day in market.sessions:
        traded = set(market.day_bars(day)["ticker"])
        assert set(WATCHLIST_TICKERS) | {"BRK.A", "BRK.B"} <= traded, day
    tickers = market.day_bars(NORMAL_DAY)["ticker"]
    assert {"NA", "ZVZZT", "KIMpL", "BRK.A"} <= set(tickers)
    assert tickers.notna().all()
    brk_a = market.day_bars(NORMAL_DAY).set_index("ticker").loc["BRK.A", "close"]
    assert brk_a > 100_000


def test_universe_has_every_kind_of_listing_and_event(market: Market) -> None:
    listings = market.listings()
    assert set(TYPES) <= set(listings["type"])
    otc = listings[listings["market"] == "otc"]
    assert len(otc) > 0 and otc["primary_exchange"].eq("OTCM").all()
    assert set(listings["market"]) == {"stocks", "otc"}
    assert listings["ticker"].is_unique and listings["ticker"].is_monotonic_increasing
    ipos = listings[listings["list_date"] >= START]
    delisted = listings[listings["delisted_date"].notna()]
    assert len(ipos) >= 1 and len(delisted) >= 1
    assert all(d in market.sessions for d in ipos["list_date"])
    assert all(d in market.sessions for d in delisted["delisted_date"])
    splits = market.splits().drop_duplicates()
    assert (splits["split_to"] > splits["split_from"]).any()  # forward
    assert (splits["split_to"] < splits["split_from"]).any()  # reverse


def test_generated_symbols_scale_to_12000_and_never_collide() -> None:
    big = Market(seed=3, tickers=12_000, start=dt.date(2024, 6, 3), end=dt.date(2024, 6, 7))
    tickers = big.listings()["ticker"]
    assert len(tickers) == 12_000 and tickers.is_unique
    generated = tickers[~tickers.isin(SPECIAL_TICKERS)]
    assert len(generated) == 12_000 - len(SPECIAL_TICKERS)
    assert generated.map(lambda t: re.fullmatch(r"[A-Z]{1,5}", t) is not None).all()
    assert not generated.str.contains("TEST").any()
    assert len(big.day_bars(dt.date(2024, 6, 5))) > 10_000


def test_sessions_are_xnys_and_bars_only_while_listed(market: Market) -> None:
    assert market.sessions == sessions_between(START, END)
    assert THANKSGIVING not in market.sessions and dt.date(2024, 12, 25) not in market.sessions
    assert market.day_bars(THANKSGIVING).empty
    assert market.minute_bars(THANKSGIVING).empty
    assert list(market.day_bars(THANKSGIVING).columns) == DAY_COLUMNS
    listings = market.listings().set_index("ticker")
    traded_after_ipo = False
    for day in market.sessions:
        for ticker in market.day_bars(day)["ticker"]:
            row = listings.loc[ticker]
            assert row["list_date"] <= day, (ticker, day)
            assert row["delisted_date"] is None or day < row["delisted_date"], (ticker, day)
            traded_after_ipo |= row["list_date"] >= START
    assert traded_after_ipo


def test_illiquid_names_skip_some_sessions(market: Market) -> None:
    listings = market.listings()
    warrants = set(listings.loc[listings["type"] == "WARRANT", "ticker"])
    counts = pd.concat([market.day_bars(day) for day in market.sessions])["ticker"].value_counts()
    liquid = counts.reindex(list(WATCHLIST_TICKERS))
    assert liquid.eq(len(market.sessions)).all()
    assert counts.reindex(sorted(warrants)).fillna(0).lt(len(market.sessions)).any()


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


def test_split_factor_makes_adjusted_prices_continuous(market: Market) -> None:
    splits = market.splits().drop_duplicates()
    assert len(splits) >= 3
    for split in splits.itertuples():
        execution = split.execution_date
        ratio = split.split_to / split.split_from
        before = market.sessions[market.sessions.index(execution) - 1]
        raw_before = market.day_bars(before).set_index("ticker").loc[split.ticker, "close"]
        raw_after = market.day_bars(execution).set_index("ticker").loc[split.ticker, "close"]
        factor = market.split_factor(split.ticker, before, END)
        assert factor == pytest.approx(ratio)
        assert abs(math.log(raw_after / (raw_before / factor))) < 0.25
        assert abs(math.log(raw_after / raw_before)) > abs(math.log(ratio)) - 0.25
        assert market.split_factor(split.ticker, before, before) == 1.0
        assert market.split_factor(split.ticker, execution, END) == 1.0
        adjusted = market.adjusted_day_bars(before).set_index("ticker")
        assert adjusted.loc[split.ticker, "close"] == pytest.approx(raw_before / ratio, abs=1e-4)
    assert market.split_factor("NO-SUCH", START, END) == 1.0


def test_corporate_actions_fall_on_sessions_with_one_duplicate_split(market: Market) -> None:
    splits = market.splits()
    assert splits.duplicated().sum() == 1
    assert splits.duplicated(list(KEYS["splits"])).sum() == 1
    assert splits["execution_date"].isin(market.sessions).all()
    dividends = market.dividends()
    assert len(dividends) > 0
    assert dividends["ex_dividend_date"].isin(market.sessions).all()
    assert not dividends.duplicated(list(KEYS["dividends"])).any()
    assert (dividends["declaration_date"] < dividends["ex_dividend_date"]).all()
    assert (dividends["pay_date"] > dividends["ex_dividend_date"]).all()
    assert dividends["frequency"].eq(4).all() and dividends["dividend_type"].eq("CD").all()


def test_tickers_as_of_is_point_in_time(market: Market) -> None:
    listings = market.listings()
    ipo = listings[listings["list_date"] > START].iloc[0]
    gone = listings[listings["delisted_date"].notna()].iloc[0]
    day_before_ipo = ipo["list_date"] - dt.timedelta(days=1)
    assert ipo["ticker"] not in set(market.tickers_as_of(day_before_ipo, True)["ticker"])
    assert ipo["ticker"] in set(market.tickers_as_of(ipo["list_date"], True)["ticker"])
    before = market.tickers_as_of(gone["delisted_date"] - dt.timedelta(days=1), True)
    assert gone["ticker"] in set(before["ticker"])
    assert before["delisted_utc"].isna().all() and before["active"].all()
    after = market.tickers_as_of(gone["delisted_date"], False)
    row = after.set_index("ticker").loc[gone["ticker"]]
    assert not row["active"] and row["delisted_utc"].startswith(gone["delisted_date"].isoformat())
    assert gone["ticker"] not in set(market.tickers_as_of(gone["delisted_date"], True)["ticker"])
    both = market.tickers_as_of(END, True)
    assert both["ticker"].is_monotonic_increasing and both["ticker"].is_unique
    assert not set(both["ticker"]) & set(after["ticker"])


def test_ticker_subset_matches_the_whole_session(market: Market) -> None:
    whole = market.minute_bars(NORMAL_DAY)
    subset = market.minute_bars(NORMAL_DAY, ["NA", "AAPL", "NO-SUCH"])
    expected = whole[whole["ticker"].isin(["NA", "AAPL"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(subset, expected)
    assert set(subset["ticker"]) == {"NA", "AAPL"}
    assert market.minute_bars(NORMAL_DAY, ["NO-SUCH"]).empty


def test_minute_sessions_are_cached_on_disk_and_reused(tmp_path) -> None:
    first = make_market(cache_dir=tmp_path)
    path = first.minute_cache_path(NORMAL_DAY)
    assert path is not None and not path.exists()
    generated = first.minute_bars(NORMAL_DAY)
    assert path.exists()
    # A fresh instance must read the cache: tamper with it and see the tampered rows.
    pd.testing.assert_frame_equal(pd.read_parquet(path), generated)
    generated.iloc[:10].to_parquet(path, index=False)
    assert len(make_market(cache_dir=tmp_path).minute_bars(NORMAL_DAY)) == 10
    assert make_market(cache_dir=tmp_path, seed=12).minute_cache_path(NORMAL_DAY) != path


def test_bad_arguments_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        make_market(tickers=5)
    with pytest.raises(ValueError, match="no NYSE trading session"):
        make_market(start=dt.date(2024, 12, 25), end=dt.date(2024, 12, 25))
    with pytest.raises(ValueError, match="non-negative"):
        make_market(seed=-1)

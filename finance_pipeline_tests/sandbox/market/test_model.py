"""The Market facade: determinism, generation order, sessions, caching, argument checks."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest

from finance_pipeline.calendar import sessions_between
from finance_pipeline.sandbox.market import (
    DAY_COLUMNS,
    Market,
)
from finance_pipeline_tests.sandbox.market.support import (
    END,
    HALF_DAY,
    NORMAL_DAY,
    START,
    make_market,
)

THANKSGIVING = dt.date(2024, 11, 28)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


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

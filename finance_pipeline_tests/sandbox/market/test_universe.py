"""The universe: special tickers, kinds of listings, generated symbols, point-in-time tickers."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from finance_pipeline.sandbox.market import (
    SPECIAL_TICKERS,
    TYPES,
    WATCHLIST_TICKERS,
    Market,
)
from finance_pipeline_tests.sandbox.market.support import (
    END,
    NORMAL_DAY,
    START,
)


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


def test_illiquid_names_skip_some_sessions(market: Market) -> None:
    listings = market.listings()
    warrants = set(listings.loc[listings["type"] == "WARRANT", "ticker"])
    counts = pd.concat([market.day_bars(day) for day in market.sessions])["ticker"].value_counts()
    liquid = counts.reindex(list(WATCHLIST_TICKERS))
    assert liquid.eq(len(market.sessions)).all()
    assert counts.reindex(sorted(warrants)).fillna(0).lt(len(market.sessions)).any()


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

"""Splits and dividends of the synthetic market."""

from __future__ import annotations

import math

import pytest

from finance_pipeline.sandbox.market import Market
from finance_pipeline.schemas import KEYS
from finance_pipeline_tests.sandbox.market.support import (
    END,
    START,
)


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

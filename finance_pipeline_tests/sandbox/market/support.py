"""Helpers shared by the market tests."""

from __future__ import annotations

import datetime as dt

from finance_pipeline.sandbox.market import Market

START, END = dt.date(2024, 11, 1), dt.date(2024, 12, 31)
NORMAL_DAY = dt.date(2024, 11, 20)
HALF_DAY = dt.date(2024, 11, 29)


def make_market(**overrides) -> Market:
    params = {"seed": 11, "tickers": 60, "start": START, "end": END}
    params.update(overrides)
    return Market(**params)

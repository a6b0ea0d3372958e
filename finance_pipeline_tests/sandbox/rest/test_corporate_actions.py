"""Splits and dividends endpoints, v3 and v1."""

from __future__ import annotations

import pytest

from finance_pipeline_tests.sandbox.rest.support import (
    client,
    get,
)


def test_splits_and_dividends_v3_and_v1(sandbox):
    rest = client(sandbox)
    splits = list(rest.list_splits(limit=1000))
    market_splits = sandbox.market.splits()
    assert len(splits) == len(market_splits)  # the vendor's duplicated row is kept in v3
    assert {(s.ticker, s.execution_date) for s in splits} == {
        (t, d.isoformat())
        for t, d in zip(market_splits.ticker, market_splits.execution_date, strict=True)
    }
    reverse = list(rest.list_splits(reverse_split=True, limit=1000))
    assert reverse and all(s.split_from > s.split_to for s in reverse)
    one = list(rest.list_splits(execution_date_gte="2024-12-01", limit=1))
    assert all(s.execution_date >= "2024-12-01" for s in one)

    dividends = list(rest.list_dividends(limit=1000))
    assert len(dividends) == len(sandbox.market.dividends())
    some = list(rest.list_dividends(ex_dividend_date_lte="2024-12-31", limit=1000))
    assert some and all(d.ex_dividend_date <= "2024-12-31" for d in some)

    status, body, _ = get(sandbox, "/stocks/v1/splits", limit="5000")
    assert status == 200
    rows = body["results"]
    assert len(rows) == len(market_splits.drop_duplicates(subset=["ticker", "execution_date"]))
    for row in rows:
        forward = row["split_to"] > row["split_from"]
        assert row["adjustment_type"] == ("forward_split" if forward else "reverse_split")
        assert row["historical_adjustment_factor"] > 0
    status, body, _ = get(sandbox, "/stocks/v1/dividends", limit="5000")
    assert status == 200 and body["results"]
    for row in body["results"]:
        assert row["distribution_type"] in ("recurring", "special")
        assert 0 < row["historical_adjustment_factor"] <= 1
        assert row["split_adjusted_cash_amount"] > 0


def test_v1_factors_are_consistent_with_the_rows_served_bogus_rows_included(fresh_sandbox):
    import datetime as dt
    import math

    sb = fresh_sandbox(tickers=60)
    real = sb.market.splits().drop_duplicates(["ticker", "execution_date"])
    first = real.iloc[0]
    later = dt.date(2025, 1, 28)
    sb.faults.bogus_split(first["ticker"], later, 1.0, 3.0)
    _, body, _ = get(sb, "/stocks/v1/splits", limit="5000")
    rows = body["results"]
    assert len(rows) == len(real) + 1 and all("id" in r for r in rows)
    for row in rows:
        ratios = [
            r["split_to"] / r["split_from"]
            for r in rows
            if r["ticker"] == row["ticker"] and r["execution_date"] >= row["execution_date"]
        ]
        assert row["historical_adjustment_factor"] == pytest.approx(1.0 / math.prod(ratios))
    mine = [r for r in rows if r["ticker"] == first["ticker"]]
    assert min(r["historical_adjustment_factor"] for r in mine) < 1 / 3  # includes the bogus row
    _, v3, _ = get(sb, "/v3/reference/splits", limit="1000")
    assert all("id" not in r for r in v3["results"])  # recorded v3 rows have no id
    _, v3_dividends, _ = get(sb, "/v3/reference/dividends", limit="1000")
    assert any("currency" not in r for r in v3_dividends["results"])

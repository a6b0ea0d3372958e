"""End to end: the warehouse's read-time adjustment equals Polygon's `adjusted=true`, and the
unadjusted views equal the raw sources (sandbox -> Dagster -> lake -> DuckDB)."""

import datetime as dt

import pandas as pd
import pytest
from polygon import RESTClient

from finance_pipeline.assets import daily_bars, dividends, flat_file_day_aggs, splits
from finance_pipeline.calendar import NEW_YORK, sessions_between
from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.assets.support import run, sandbox_resources

PRICES = ("open", "high", "low", "close")


@pytest.fixture(scope="module")
def warehouse(sandbox, tmp_path_factory):
    """The whole sandbox range materialized through Dagster, then read through DuckDB."""
    root = tmp_path_factory.mktemp("adjusted-lake")
    sessions = sessions_between(sandbox.start, sandbox.end)
    run(
        [flat_file_day_aggs, splits, dividends, daily_bars],
        sandbox_resources(sandbox, root),
        sessions=(sessions[0], sessions[-1]),
    )
    with Warehouse(str(root)) as opened:
        yield opened, Lake(str(root)), sessions


def _rest_bars(sandbox, ticker: str, start: dt.date, end: dt.date, adjusted: bool) -> pd.DataFrame:
    client = RESTClient(api_key=sandbox.api_key, base=sandbox.rest_url, retries=0)
    bars = client.list_aggs(ticker, 1, "day", start, end, adjusted=adjusted, limit=50000)
    frame = pd.DataFrame([vars(bar) for bar in bars])
    moments = pd.to_datetime(frame["timestamp"], unit="ms", utc=True).dt.tz_convert(NEW_YORK)
    return frame.assign(session=moments.dt.date).set_index("session").sort_index()


def test_adjusted_view_equals_polygon_adjusted_for_every_split_ticker(warehouse, sandbox):
    wh, _, sessions = warehouse
    split_rows = wh.query_df("select ticker, split_from, split_to from splits")
    assert (split_rows["split_to"] > split_rows["split_from"]).any(), "no forward split in range"
    assert (split_rows["split_to"] < split_rows["split_from"]).any(), "no reverse split in range"
    view = wh.query_df(
        "select ticker, session, adj_open, adj_high, adj_low, adj_close, adj_volume, "
        "split_factor from daily_bars_adjusted where ticker in (select ticker from splits)"
    )
    compared = 0
    for ticker in sorted(set(split_rows["ticker"])):
        ours = view[view["ticker"] == ticker].set_index("session").sort_index()
        theirs = _rest_bars(sandbox, ticker, sessions[0], sessions[-1], adjusted=True)
        assert list(ours.index) == list(theirs.index), ticker
        assert (ours["split_factor"] != 1.0).any(), f"{ticker}: no bar before its split"
        for price in PRICES:
            assert ours[f"adj_{price}"].to_numpy() == pytest.approx(
                theirs[price].to_numpy(), rel=1e-4
            ), (ticker, price)
        assert ours["adj_volume"].to_numpy() == pytest.approx(
            theirs["volume"].to_numpy(), rel=1e-4
        ), ticker
        compared += len(ours)
    assert compared > 0


def test_unadjusted_view_equals_the_raw_sources(warehouse, sandbox):
    wh, lake, sessions = warehouse
    raw = lake.read_many("flat_file_day_aggs", sessions).to_pandas()
    view = wh.query_df("select ticker, session, open, high, low, close, volume from daily_bars")
    merged = view.merge(raw, on=["ticker", "session"], suffixes=("", "_raw"), validate="1:1")
    assert len(merged) == len(view) > 0
    for column in (*PRICES, "volume"):
        assert (merged[column] == merged[f"{column}_raw"]).all(), column
    # and the same bars as the old path (per-ticker REST, adjusted=false) for a split ticker
    ticker = wh.query_df("select ticker from splits order by ticker limit 1")["ticker"][0]
    theirs = _rest_bars(sandbox, ticker, sessions[0], sessions[-1], adjusted=False)
    ours = view[view["ticker"] == ticker].set_index("session").sort_index()
    for price in PRICES:
        assert ours[price].to_numpy() == pytest.approx(theirs[price].to_numpy(), rel=1e-9)

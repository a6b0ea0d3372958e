"""adjustment_factors end to end (sandbox over HTTP -> Dagster -> lake -> DuckDB): the factors
daily_bars_adjusted applies, equal to the vendor's historical_adjustment_factor for every
ticker with a split or dividend, and the vendor-defect checks green on clean data."""

import datetime as dt

import dagster as dg
import pytest

from finance_pipeline.assets import (
    adjustment_factors,
    daily_bars,
    dividends,
    flat_file_day_aggs,
    grouped_daily_bars,
    splits,
)
from finance_pipeline.calendar import previous_session, sessions_between
from finance_pipeline.checks.vendor_defects import VENDOR_DEFECT_CHECKS
from finance_pipeline.clients import PolygonClient
from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.assets.support import RANGE_END, RANGE_START, sandbox_resources

# grouped_daily_bars is one session per run: its jump check is exercised in test_vendor_defects.
ASSETS = [flat_file_day_aggs, splits, dividends, daily_bars, adjustment_factors]


def materialize_range(sb, root, first: dt.date, last: dt.date) -> dg.ExecuteInProcessResult:
    resources = sandbox_resources(sb, root)
    with dg.instance_for_test() as instance:
        # Sources and curated first (range runs), then the factors with every vendor check.
        dg.materialize(
            ASSETS[:-1],
            resources=resources,
            instance=instance,
            tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        )
        return dg.materialize(
            [*ASSETS, grouped_daily_bars, *VENDOR_DEFECT_CHECKS],
            resources=resources,
            instance=instance,
            tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
            selection=dg.AssetSelection.assets(adjustment_factors)
            | dg.AssetSelection.checks(*VENDOR_DEFECT_CHECKS),
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def world(sandbox, tmp_path_factory):
    root = tmp_path_factory.mktemp("factors-lake")
    sessions = sessions_between(sandbox.start, sandbox.end)
    result = materialize_range(sandbox, root, sessions[0], sessions[-1])
    lake = Lake(str(root))
    factors = lake.read_many("adjustment_factors", sessions).to_pandas()
    with Warehouse(str(root)) as wh:
        view = wh.query_df(
            "select ticker, session, split_factor, dividend_factor from daily_bars_adjusted"
        )
    yield {"result": result, "factors": factors, "view": view, "sessions": sessions}


def test_adjustment_factors_equal_the_factors_the_adjusted_view_applies(world):
    factors, view = world["factors"], world["view"]
    merged = view.merge(factors, on=["ticker", "session"], how="left", suffixes=("", "_asset"))
    moved = merged[(merged["split_factor"] != 1.0) | (merged["dividend_factor"] != 1.0)]
    assert len(moved) > 100 and moved["split_factor_asset"].notna().all()
    for kind in ("split_factor", "dividend_factor"):
        stored = merged[merged[f"{kind}_asset"].notna()]
        assert stored[kind].to_numpy() == pytest.approx(stored[f"{kind}_asset"].to_numpy(), 1e-12)
    # Tickers without a later event have no row: their factors are 1 in the view.
    absent = merged[merged["split_factor_asset"].isna()]
    assert (absent["split_factor"] == 1.0).all() and (absent["dividend_factor"] == 1.0).all()


def test_adjustment_factors_equal_the_vendors_for_every_ticker_with_an_action(sandbox, world):
    factors = world["factors"].set_index(["ticker", "session"])
    client = PolygonClient(sandbox.api_key, base_url=sandbox.rest_url, rate_limit_per_minute=0)
    first, last = world["sessions"][0], world["sessions"][-1]
    checked = {"split": 0, "dividend": 0}
    for kind, rows, day_column, column in (
        ("split", client.stocks_splits(first, last), "execution_date", "split_factor"),
        ("dividend", client.stocks_dividends(first, last), "ex_dividend_date", "dividend_factor"),
    ):
        for row in rows.itertuples():
            day = dt.date.fromisoformat(getattr(row, day_column))
            before = previous_session(day)
            if before < first:
                continue
            vendor = row.historical_adjustment_factor
            ours = factors.loc[(row.ticker, before), column]
            expected = 1.0 / vendor if kind == "split" else vendor
            assert ours == pytest.approx(expected, rel=1e-9), (kind, row.ticker, day)
            checked[kind] += 1
    assert checked["split"] >= 2 and checked["dividend"] > 20


def test_vendor_defect_checks_pass_on_clean_data(world):
    evaluations = world["result"].get_asset_check_evaluations()
    names = {(e.asset_key.to_user_string(), e.check_name): e for e in evaluations}
    assert set(names) == {
        ("splits", "confirmed_by_prices"),
        ("grouped_daily_bars", "no_unexplained_price_jumps"),
        ("flat_file_day_aggs", "no_unexplained_price_jumps"),
        ("adjustment_factors", "matches_vendor_factors"),
    }
    for evaluation in evaluations:  # one per session and check in a range run
        assert evaluation.passed, (evaluation.check_name, evaluation.description)
    confirmed = sum(
        e.metadata["confirmed"].value for e in evaluations if e.check_name == "confirmed_by_prices"
    )
    assert confirmed >= 2  # every real split of the range confirmed

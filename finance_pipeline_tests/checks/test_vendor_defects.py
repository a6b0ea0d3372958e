"""The vendor's defects, injected in the sandbox and found by the checks over HTTP: wrong and
duplicated split rows, garbage tickers with absurd prices, traded tickers missing from the
reference tickers."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from finance_pipeline.assets import (
    dividends,
    flat_file_day_aggs,
    grouped_daily_bars,
    splits,
    universe_snapshot,
)
from finance_pipeline.calendar import next_session, sessions_between
from finance_pipeline.checks.reconciliation import universe_snapshot_covers_traded_tickers
from finance_pipeline.checks.vendor_defects import VENDOR_DEFECT_CHECKS, splits_confirmed
from finance_pipeline.lake import Lake
from finance_pipeline.sandbox.defects import GARBAGE_TICKERS
from finance_pipeline_tests.assets.support import RANGE_END, RANGE_START, sandbox_resources
from finance_pipeline_tests.checks.support import meta
from finance_pipeline_tests.conftest import SANDBOX_DEFAULTS

CLEAN, GARBAGE_1, GARBAGE_2 = dt.date(2025, 1, 13), dt.date(2025, 1, 14), dt.date(2025, 1, 15)
WRONG = dt.date(2024, 12, 3)  # a made-up 1-for-3 split of MSFT, which never split


DAILY_ASSETS_AND_CHECKS = [
    grouped_daily_bars,
    universe_snapshot,
    universe_snapshot_covers_traded_tickers,
]


def _check(name: str, asset: str) -> dg.AssetChecksDefinition:
    for checks in VENDOR_DEFECT_CHECKS:
        if any(k.name == name and k.asset_key.path[-1] == asset for k in checks.check_keys):
            return checks
    raise LookupError(name)


def _evaluations(result: dg.ExecuteInProcessResult, asset: str, name: str) -> list:
    return [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    ]


def _evaluation(result: dg.ExecuteInProcessResult, asset: str, name: str):
    found = _evaluations(result, asset, name)
    assert len(found) == 1, (asset, name)
    return found[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from finance_pipeline.sandbox import Sandbox

    cache = tmp_path_factory.mktemp("defects-cache")
    root = tmp_path_factory.mktemp("defects-lake")
    with Sandbox(**{**SANDBOX_DEFAULTS, "tickers": 60}, cache_dir=cache) as sb:
        real = sb.market.splits().drop_duplicates(["ticker", "execution_date"])
        first = real.iloc[0]
        assert WRONG not in set(real["execution_date"])
        duplicate_day = next_session(first["execution_date"])
        sb.faults.bogus_split("MSFT", WRONG, 1.0, 3.0)
        sb.faults.bogus_split(
            first["ticker"], duplicate_day, first["split_from"], first["split_to"]
        )
        sb.faults.garbage_tickers(GARBAGE_1, count=3)
        sb.faults.garbage_tickers(GARBAGE_2, count=3)
        sb.faults.unlisted_ticker("AAPL")
        resources = sandbox_resources(sb, root)
        sessions = sessions_between(sb.start, sb.end)
        tags = {RANGE_START: sessions[0].isoformat(), RANGE_END: sessions[-1].isoformat()}
        split_check = _check("confirmed_by_prices", "splits")
        jump_check = _check("no_unexplained_price_jumps", "grouped_daily_bars")
        with dg.instance_for_test() as instance:
            ranged = dg.materialize(
                [flat_file_day_aggs, splits, dividends, split_check],
                resources=resources,
                instance=instance,
                tags=tags,
                raise_on_error=False,
            )
            daily = {
                day: dg.materialize(
                    [*DAILY_ASSETS_AND_CHECKS, jump_check],
                    resources=resources,
                    instance=instance,
                    partition_key=day.isoformat(),
                    raise_on_error=False,
                )
                for day in (dt.date(2025, 1, 10), CLEAN, GARBAGE_1, GARBAGE_2)
            }
        yield {
            "ranged": ranged,
            "daily": daily,
            "real": real,
            "duplicate": (first["ticker"], duplicate_day),
            "lake": Lake(str(root)),
        }


def test_the_split_check_flags_the_wrong_and_the_duplicated_row_and_passes_real_ones(world):
    # A range run records one evaluation per session: only the wrong and the duplicated row fail.
    by_session = {
        e.partition: e for e in _evaluations(world["ranged"], "splits", "confirmed_by_prices")
    }
    ticker, day = world["duplicate"]
    assert len(by_session) > 2
    failed = {key for key, e in by_session.items() if not e.passed}
    assert failed == {WRONG.isoformat(), day.isoformat()}
    assert all(by_session[key].severity == dg.AssetCheckSeverity.ERROR for key in failed)
    assert f"MSFT {WRONG} 1:3" in by_session[WRONG.isoformat()].description
    lake = world["lake"]
    wrong, duplicated = splits_confirmed(lake, WRONG), splits_confirmed(lake, day)
    assert not wrong.passed and f"MSFT {WRONG} 1:3" in wrong.description
    assert not duplicated.passed and f"{ticker} {day}" in duplicated.description
    for row in world["real"].itertuples():  # every real split confirmed by prices
        verdict = splits_confirmed(lake, row.execution_date)
        assert verdict.passed and verdict.metadata["confirmed"] >= 1, verdict.description


def test_the_price_jump_check_names_the_garbage_tickers_and_nothing_else(world):
    for day in (dt.date(2025, 1, 10), CLEAN, GARBAGE_1):
        # Clean sessions pass; on GARBAGE_1 the garbage has no previous close to jump from.
        evaluation = _evaluation(
            world["daily"][day], "grouped_daily_bars", "no_unexplained_price_jumps"
        )
        assert evaluation.passed, (day, evaluation.description)
    evaluation = _evaluation(
        world["daily"][GARBAGE_2], "grouped_daily_bars", "no_unexplained_price_jumps"
    )
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    named = set(meta(evaluation)["tickers"].split(", "))
    assert named == set(GARBAGE_TICKERS[:3])


def test_traded_tickers_missing_from_the_universe_are_counted(world):
    evaluation = _evaluation(
        world["daily"][GARBAGE_2], "universe_snapshot", "covers_traded_tickers"
    )
    details = meta(evaluation)
    assert details["traded_not_in_universe"] == 4  # AAPL (unlisted) and three garbage tickers
    assert "AAPL" in details["offenders"]

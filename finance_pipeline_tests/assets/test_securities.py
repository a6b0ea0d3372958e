"""securities end to end on the symbology sandbox (official client over HTTP -> lake ->
Dagster -> DuckDB): one security per rename holding both tickers, two per reuse, the id
fallbacks, per-session figures, and the views."""

import datetime as dt

import pandas as pd
import pytest

from finance_pipeline import schemas
from finance_pipeline.assets import daily_bars, dividends, flat_file_day_aggs, securities, splits
from finance_pipeline.assets.securities import build_securities, stored_snapshots
from finance_pipeline.assets.universe import normalize_universe
from finance_pipeline.calendar import partition_key, sessions_between
from finance_pipeline.clients import PolygonClient
from finance_pipeline.lake import Lake
from finance_pipeline.registry import SECURITIES, UNIVERSE_SNAPSHOT
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.assets.support import run, sandbox_resources, session_metadata_of


def store_universe(sb, lake: Lake, sessions: list[dt.date]) -> None:
    """Each session's universe snapshot, fetched and normalized as the asset does."""
    client = PolygonClient(sb.api_key, base_url=sb.rest_url, rate_limit_per_minute=0)
    for session in sessions:
        active, inactive = client.tickers(session, True), client.tickers(session, False)
        frame = normalize_universe(active, inactive, session)
        lake.write(
            UNIVERSE_SNAPSHOT, session, schemas.to_table(frame, schemas.UNIVERSE_SNAPSHOT, "")
        )


@pytest.fixture(scope="module")
def world(symbology_sandbox, tmp_path_factory):
    sb = symbology_sandbox
    root = tmp_path_factory.mktemp("securities-lake")
    lake = Lake(str(root))
    sessions = sessions_between(sb.start, sb.end)
    store_universe(sb, lake, sessions)
    resources = sandbox_resources(sb, root)
    run(
        [flat_file_day_aggs, splits, dividends, daily_bars],
        resources,
        sessions=(sessions[0], sessions[-1]),
    )
    result = run([securities], resources, sessions=(sessions[-2], sessions[-1]))
    master = lake.read(SECURITIES, sessions[-1]).to_pandas()
    return {
        "sb": sb,
        "root": root,
        "lake": lake,
        "sessions": sessions,
        "result": result,
        "master": master,
    }


def test_every_rename_is_one_security_holding_both_tickers(world) -> None:
    master = world["master"]
    for rename in world["sb"].market.renames:
        rows = master[master["ticker"].isin([rename.old, rename.new])]
        assert rows["security_id"].nunique() == 1, rows
        old, new = (
            rows.set_index("ticker").loc[rename.old],
            rows.set_index("ticker").loc[rename.new],
        )
        assert old["last_session"] < rename.session == new["first_session"]
        assert new["previous_ticker"] == rename.old and pd.isna(old["previous_ticker"])
        assert not old["current"] and new["current"] and not new["reused"]
    first, second = world["sb"].market.renames
    ids = master.set_index("ticker")
    assert ids.loc[first.new, "id_source"] == "composite_figi"
    assert ids.loc[first.new, "security_id"] == ids.loc[first.new, "composite_figi"]
    assert ids.loc[second.new, "id_source"] == "share_class_figi"  # no composite FIGI


def test_a_reused_ticker_is_two_securities(world) -> None:
    master = world["master"]
    (reuse,) = world["sb"].market.reuses
    rows = master[master["ticker"] == reuse.ticker].sort_values("first_session")
    assert len(rows) == 2 and rows["security_id"].nunique() == 2 and rows["reused"].all()
    before, after = rows.iloc[0], rows.iloc[1]
    assert before["last_session"] < reuse.delisted and after["first_session"] == reuse.relisted
    assert before["name"] != after["name"] and pd.isna(after["previous_ticker"])


def test_ids_fall_back_when_figis_are_missing(world) -> None:
    master = world["master"]
    sources = master["id_source"].value_counts()
    assert {"composite_figi", "share_class_figi", "cik_name", "ticker"} <= set(sources.index)
    bare = master[master["id_source"] == "ticker"].iloc[0]
    assert bare["security_id"] == f"ticker:{bare['ticker']}:{bare['first_session'].isoformat()}"
    cik = master[master["id_source"] == "cik_name"].iloc[0]
    assert cik["security_id"] == f"cik:{cik['cik']}:{cik['name']}"
    assert master.groupby(["security_id", "ticker", "first_session"]).size().max() == 1


def test_a_bare_ticker_back_after_a_gap_is_a_new_security() -> None:
    days = [dt.date(2025, 1, d) for d in (6, 7, 8, 9)]
    rows = [
        {
            "session": s,
            "ticker": "QQ",
            "name": "Bare",
            "cik": None,
            "composite_figi": None,
            "share_class_figi": None,
            "k": k,
        }
        for k, s in enumerate(days)
        if k != 2
    ]

    master = build_securities(pd.DataFrame(rows), days[-1])
    assert len(master) == 2 and master["security_id"].nunique() == 2 and master["reused"].all()


def test_each_session_records_its_own_figures(world) -> None:
    figures = session_metadata_of(world["result"], SECURITIES)
    last, before = world["sessions"][-1], world["sessions"][-2]
    assert set(figures) == {partition_key(before), partition_key(last)}
    now = figures[partition_key(last)]
    assert now["renames"] == 2 and now["reused_tickers"] == 1 and now["fallback_ids"] >= 4
    assert now["securities"] == world["master"]["security_id"].nunique()
    # The as-of session before knows nothing after it (point in time).
    earlier = world["lake"].read(SECURITIES, before).to_pandas()
    assert earlier["last_session"].max() == before


def test_the_master_as_of_a_session_never_looks_ahead(world) -> None:
    snapshots = stored_snapshots(world["lake"], world["sessions"][10])
    assert snapshots["session"].max() == world["sessions"][10]

"""securities end to end on the symbology sandbox (official client over HTTP -> lake ->
Dagster -> DuckDB): one security per rename holding both tickers, two per reuse, the id
fallbacks, per-session figures, and the views."""

import csv
import datetime as dt
import io
import re
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from finance_pipeline import schemas
from finance_pipeline.assets import daily_bars, dividends, flat_file_day_aggs, securities, splits
from finance_pipeline.assets.securities import build_securities, stored_snapshots
from finance_pipeline.assets.universe import normalize_universe
from finance_pipeline.calendar import partition_key, sessions_between
from finance_pipeline.checks.securities import SECURITY_CHECKS
from finance_pipeline.cli import cli
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
    root = tmp_path_factory.mktemp("securities") / "lake"  # the README's Python example's path
    root.mkdir()
    lake = Lake(str(root))
    sessions = sessions_between(sb.start, sb.end)
    store_universe(sb, lake, sessions)
    resources = sandbox_resources(sb, root)
    run(
        [flat_file_day_aggs, splits, dividends, daily_bars],
        resources,
        sessions=(sessions[0], sessions[-1]),
    )
    result = run([securities, *SECURITY_CHECKS], resources, sessions=(sessions[-2], sessions[-1]))
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
    assert now["distinct_securities"] == world["master"]["security_id"].nunique()
    # The as-of session before knows nothing after it (point in time).
    earlier = world["lake"].read(SECURITIES, before).to_pandas()
    assert earlier["last_session"].max() == before


def test_the_master_as_of_a_session_never_looks_ahead(world) -> None:
    snapshots = stored_snapshots(world["lake"], world["sessions"][10])
    assert snapshots["session"].max() == world["sessions"][10]


README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _readme_examples() -> tuple[list[str], str]:
    """The section's `finance-pipeline query` commands and its Python example."""
    start = README.index("## Following a company across renames")
    section = README[start : README.index("\n## ", start + 1)]
    queries = re.findall(r'^finance-pipeline query "(.*)"$', section, flags=re.M)
    (python,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return queries, python


def _query(root: Path, sql: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(
        cli, ["query", sql, "--csv"], env={"FINANCE_PIPELINE_LAKE": str(root)}
    )
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def test_the_readme_examples_answer_on_the_sandbox(world, monkeypatch) -> None:
    (first, _), (reuse,) = world["sb"].market.renames, world["sb"].market.reuses
    assert (first.old, first.new, reuse.ticker) == ("XUJ", "XUJZ", "LE")  # as the README says
    intervals, history, meaning = _query_all(world["root"])
    assert [(r["ticker"], r["previous_ticker"]) for r in intervals] == [
        ("XUJ", ""),
        ("XUJZ", "XUJ"),
    ]
    assert intervals[1]["first_session"] == "2024-12-02"
    assert [r["session"] for r in history] == [s.isoformat() for s in world["sessions"]]
    assert {r["ticker"] for r in history} == {"XUJ", "XUJZ"}
    (row,) = meaning
    assert row["first_session"] == "2024-11-14" and row["security_id"] != _first_le(world)
    _, python = _readme_examples()
    monkeypatch.chdir(world["root"].parent)
    exec(compile(python, "README.md", "exec"), {})


def _query_all(root: Path) -> list[list[dict[str, str]]]:
    queries, _ = _readme_examples()
    assert len(queries) == 3
    return [_query(root, sql) for sql in queries]


def _first_le(world) -> str:
    master = world["master"]
    return master[master["ticker"] == "LE"].sort_values("first_session").iloc[0]["security_id"]


def test_security_history_never_joins_a_reused_ticker_across_its_gap(world) -> None:
    with Warehouse(str(world["root"])) as wh:
        rows = wh.query_df(
            "select security_id, min(session) as first, max(session) as last, count(*) as n "
            "from security_history where ticker = 'LE' group by all order by first"
        )
        bars = wh.query_df("select count(*) as n from daily_bars where ticker = 'LE'")
    (reuse,) = world["sb"].market.reuses
    assert len(rows) == 2 and rows["security_id"].nunique() == 2
    assert rows["last"][0] < reuse.delisted and rows["first"][1] == reuse.relisted
    assert rows["n"].sum() == bars["n"][0]


def test_the_security_checks_pass_on_the_sandbox(world) -> None:
    evaluations = world["result"].get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "renames_continue",
        "reuses_kept_apart",
        "traded_tickers_mapped",
    }
    assert len(evaluations) == 6  # one per session and check in the range run
    for evaluation in evaluations:
        assert evaluation.passed, (evaluation.check_name, evaluation.description)
    last = {
        e.check_name: e.metadata
        for e in evaluations
        if e.partition == world["sessions"][-1].isoformat()
    }
    assert last["renames_continue"]["renames"].value == 2
    assert last["renames_continue"]["unverified"].value == 0
    assert last["reuses_kept_apart"]["reused_tickers"].value == 1


def test_a_traded_ticker_missing_from_reference_data_is_listed(world, tmp_path) -> None:
    sb, last = world["sb"], world["sessions"][-1]
    root = tmp_path / "lake"
    shutil.copytree(world["root"], root)
    ghost = world["master"].query("current and id_source == 'composite_figi'").iloc[0]["ticker"]
    sb.faults.unlisted_ticker(ghost)
    try:
        store_universe(sb, Lake(str(root)), [last])
    finally:
        sb.faults.clear()
    result = run([securities, *SECURITY_CHECKS], sandbox_resources(sb, root), session=last)
    (mapped,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "traded_tickers_mapped"
    ]
    assert not mapped.passed and mapped.severity == dg.AssetCheckSeverity.WARN
    assert mapped.metadata["offenders"].value == ghost

"""The coverage view: stored and missing sessions, curated bars' sources, restated flat files."""

from __future__ import annotations

from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.warehouse.support import SESSIONS, bars, closes_for, flat_aggs

# --------------------------------------------------------------------------- coverage


def test_coverage_marks_missing_sessions(lake: Lake) -> None:
    stored = [SESSIONS[0], SESSIONS[1], SESSIONS[3]]
    for index, session in enumerate(stored):
        source = "grouped_daily_bars" if index == 1 else "flat_file_day_aggs"
        lake.write("daily_bars", session, bars(session, closes_for(index), source=source))
    with Warehouse(lake) as warehouse:  # a Lake works as the root, as the CLI passes it
        rows = warehouse.query(
            "SELECT session, present, rows, source FROM coverage "
            "WHERE dataset = 'daily_bars' ORDER BY session"
        ).to_pylist()
        missing_elsewhere = warehouse.query(
            "SELECT count(*) AS n FROM coverage WHERE dataset = 'grouped_daily_bars' AND present"
        )
    assert [r["session"] for r in rows] == SESSIONS[:4]
    assert [r["present"] for r in rows] == [True, True, False, True]
    assert [r["rows"] for r in rows] == [3, 3, 0, 3]
    assert [r["source"] for r in rows] == [
        "flat_file_day_aggs",
        "grouped_daily_bars",
        None,
        "flat_file_day_aggs",
    ]
    assert missing_elsewhere["n"][0].as_py() == 0


def test_coverage_flags_a_restated_flat_file(lake: Lake) -> None:
    lake.write("flat_file_day_aggs", SESSIONS[0], flat_aggs(SESSIONS[0], "etag-a"))
    lake.write("flat_file_day_aggs", SESSIONS[1], flat_aggs(SESSIONS[1], "etag-c"))
    query = (
        "SELECT session, restated FROM coverage WHERE dataset = 'flat_file_day_aggs' "
        "ORDER BY session"
    )
    with Warehouse(lake.root) as warehouse:
        assert [r["restated"] for r in warehouse.query(query).to_pylist()] == [False, False]
    # The vendor replaces the object: our file is replaced too, with the new ETag.
    lake.write("flat_file_day_aggs", SESSIONS[0], flat_aggs(SESSIONS[0], "etag-b", close=11.0))
    with Warehouse(lake.root) as warehouse:
        assert warehouse.query(query).to_pylist() == [
            {"session": SESSIONS[0], "restated": True},
            {"session": SESSIONS[1], "restated": False},
        ]
        curated = warehouse.query(
            "SELECT DISTINCT restated FROM coverage WHERE dataset = 'daily_bars'"
        )
        assert curated.to_pylist() == [{"restated": None}]

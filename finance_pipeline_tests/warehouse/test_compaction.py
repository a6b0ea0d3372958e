"""Compacted periods serve the same rows as the session files, and a rewritten session wins."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from finance_pipeline import schemas
from finance_pipeline.lake import Lake
from finance_pipeline.registry import MINUTE_BARS
from finance_pipeline.warehouse import COMPACT_DIR, Warehouse, WarehouseError
from finance_pipeline.warehouse.compaction import MINUTE_SUB_SESSIONS
from finance_pipeline_tests.warehouse.support import (
    SESSIONS,
    bars,
    closes_for,
    dividend,
    sorted_rows,
    split,
    write_rows,
)

# --------------------------------------------------------------------------- compaction


def test_compaction_preserves_results_and_a_rewritten_session_wins(daily_lake: Lake) -> None:
    # A 2024 split and dividend adjust the 2023 sessions too, across compacted periods.
    day = SESSIONS[-4]
    write_rows(daily_lake, "splits", day, [split("BBB", day, 1, 4, "s")])
    write_rows(daily_lake, "dividends", day, [dividend("AAA", day, 0.25)])
    query = "SELECT * FROM daily_bars_adjusted"
    with Warehouse(daily_lake.root) as warehouse:
        before = sorted_rows(warehouse.query(query))
        result = warehouse.compact("daily_bars")
        assert sorted(result.periods) == ["2023", "2024"]
        assert result.rows == len(before) and result.sessions == len(SESSIONS)
        assert warehouse.compact("splits").periods == ["2024"]
        assert warehouse.compact("dividends").periods == ["2024"]
        assert sorted_rows(warehouse.query(query)) == before
        factors = {(r["ticker"], r["session"] < day): r["split_factor"] for r in before}
        assert factors[("BBB", True)] == 4.0 and factors[("BBB", False)] == 1.0
        compacted = warehouse.query(
            "SELECT bool_and(compacted) AS c FROM coverage WHERE dataset = 'daily_bars'"
        )
        assert compacted["c"][0].as_py() is True

        # Re-materialize one session after compaction: the view must serve the new file.
        target = SESSIONS[-2]
        daily_lake.write("daily_bars", target, bars(target, {"AAA": 999.0, "NEW": 1.0}))
        warehouse.refresh()
        got = warehouse.query(
            f"SELECT ticker, close FROM daily_bars WHERE session = DATE '{target}' ORDER BY 1"
        )
        assert got.to_pylist() == [
            {"ticker": "AAA", "close": 999.0},
            {"ticker": "NEW", "close": 1.0},
        ]
        others = warehouse.query(f"SELECT * FROM daily_bars WHERE session <> DATE '{target}'")
        unchanged = [bars(s, closes_for(i)) for i, s in enumerate(SESSIONS) if s != target]
        assert sorted_rows(others) == sorted_rows(pa.concat_tables(unchanged))
        flags = warehouse.query(
            "SELECT session, compacted FROM coverage WHERE dataset = 'daily_bars' AND NOT compacted"
        )
        assert flags.to_pylist() == [{"session": target, "compacted": False}]
        # A new session after compaction shows up too, and only the stale year is rewritten.
        new = dt.date(2024, 1, 16)
        daily_lake.write("daily_bars", new, bars(new, {"AAA": 7.0}))
        again = warehouse.compact("daily_bars")
        assert again.periods == ["2024"] and again.skipped == ["2023"]
        rows = warehouse.query(
            "SELECT session, ticker, close FROM daily_bars WHERE ticker IN ('AAA', 'NEW') "
            f"AND session >= DATE '{target}' ORDER BY 1, 2"
        ).to_pylist()
        assert rows == [
            {"session": target, "ticker": "AAA", "close": 999.0},
            {"session": target, "ticker": "NEW", "close": 1.0},
            {
                "session": SESSIONS[-1],
                "ticker": "AAA",
                "close": closes_for(len(SESSIONS) - 1)["AAA"],
            },
            {"session": new, "ticker": "AAA", "close": 7.0},
        ]
    assert (Path(daily_lake.root) / COMPACT_DIR / "daily_bars" / "2024.duckdb").is_file()


def test_compaction_of_an_unknown_dataset_or_read_only_warehouse_is_refused(lake: Lake) -> None:
    with Warehouse(lake.root) as warehouse, pytest.raises(WarehouseError, match="unknown dataset"):
        warehouse.compact("nope")
    with (
        Warehouse(lake.root, read_only=True) as warehouse,
        pytest.raises(WarehouseError, match="read-only"),
    ):
        warehouse.compact("daily_bars")
    assert not (Path(lake.root) / "warehouse.duckdb").exists()


def test_minute_compaction_keeps_the_rows_and_runs_a_tickers_minutes_together(lake: Lake) -> None:
    # Six sessions of three tickers in one month: inside the tile a ticker's rows come in two
    # runs of MINUTE_SUB_SESSIONS sessions (not one run per session), and nothing is lost.
    days = [s for s in SESSIONS if s.month == 1][:6]
    assert len(days) == 6
    for index, day in enumerate(days):
        daily = bars(day, closes_for(index))
        start = dt.datetime.combine(day, dt.time(14, 30), dt.UTC)
        minutes = [
            row | {"window_start": start + dt.timedelta(minutes=m), "close": row["close"] + m}
            for row in daily.to_pylist()
            for m in range(2)
        ]
        lake.write(MINUTE_BARS, day, pa.Table.from_pylist(minutes, schema=schemas.CURATED_BARS))
    assert MINUTE_SUB_SESSIONS == 3
    with Warehouse(lake.root, datasets=[MINUTE_BARS]) as warehouse:
        query = f"SELECT * FROM {MINUTE_BARS} ORDER BY ticker, window_start"
        before = warehouse.query(query)
        assert warehouse.compact(MINUTE_BARS).periods == ["2024-01"]
        assert warehouse.query(query) == before
    path = Path(lake.root) / COMPACT_DIR / MINUTE_BARS / "2024-01.duckdb"
    con = duckdb.connect(str(path), read_only=True)
    runs = con.execute(
        "SELECT ticker, count(*) FILTER (WHERE previous IS DISTINCT FROM ticker) FROM ("
        "SELECT ticker, lag(ticker) OVER (ORDER BY rowid) AS previous FROM data) GROUP BY 1"
    ).fetchall()
    con.close()
    assert sorted(runs) == [("AAA", 2), ("BBB", 2), ("BRK.A", 2)]

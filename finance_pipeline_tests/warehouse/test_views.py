"""The warehouse views over a real lake: raw, de-duplicated and adjusted views return what
`Lake` wrote, with splits and dividends applied at read time."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from finance_pipeline import schemas
from finance_pipeline.calendar import previous_session
from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.warehouse.support import (
    SESSIONS,
    bars,
    closes_for,
    dividend,
    flat_aggs,
    sorted_rows,
    split,
    write_rows,
)

# --------------------------------------------------------------------------- plain views


def test_views_return_exactly_what_was_written(daily_lake: Lake) -> None:
    written = pa.concat_tables(bars(s, closes_for(i)) for i, s in enumerate(SESSIONS))
    daily_lake.write("flat_file_day_aggs", SESSIONS[0], flat_aggs(SESSIONS[0], "etag-1"))
    with Warehouse(daily_lake.root) as warehouse:
        got = warehouse.query("SELECT * FROM daily_bars")
        assert got.schema.field("session").type == pa.date32()
        assert got.schema.names == schemas.CURATED_BARS.names
        assert sorted_rows(got) == sorted_rows(written)
        flat = warehouse.query("SELECT * FROM flat_file_day_aggs")
        assert sorted_rows(flat) == sorted_rows(flat_aggs(SESSIONS[0], "etag-1"))
        # Unadjusted columns of the adjusted view are the raw ones (no splits, no dividends).
        adjusted = warehouse.query(
            "SELECT ticker, session, close, adj_close, total_return_close, split_factor "
            "FROM daily_bars_adjusted"
        )
        for row in adjusted.to_pylist():
            assert row["adj_close"] == row["close"] == row["total_return_close"]
            assert row["split_factor"] == 1.0


def test_empty_lake_has_every_view_with_schema_columns(lake: Lake) -> None:
    with Warehouse(lake.root) as warehouse:
        for dataset, schema in schemas.DATASETS.items():
            view = {"splits": "splits_raw", "dividends": "dividends_raw"}.get(dataset, dataset)
            table = warehouse.query(f"SELECT * FROM {view}")
            assert table.num_rows == 0
            assert table.schema.names == schema.names
            assert table.schema.field("session").type == pa.date32()
        adjusted = warehouse.query("SELECT * FROM daily_bars_adjusted")
        assert adjusted.num_rows == 0
        assert {"split_factor", "dividend_factor", "adj_close", "total_return_close"} <= set(
            adjusted.schema.names
        )
        assert warehouse.query("SELECT * FROM coverage").num_rows == 0
        for view in ("universe", "splits", "dividends"):
            assert warehouse.query(f"SELECT count(*) AS n FROM {view}")["n"][0].as_py() == 0


def test_splits_and_dividends_views_deduplicate(lake: Lake) -> None:
    day = SESSIONS[3]
    write_rows(
        lake,
        "splits",
        day,
        [split("AAA", day, 1, 2, "a"), split("AAA", day, 1, 2, "b"), split("BBB", day, 1, 3, "c")],
    )
    write_rows(lake, "dividends", day, [dividend("AAA", day, 0.5), dividend("AAA", day, 0.5)])
    with Warehouse(lake.root) as warehouse:
        assert warehouse.query("SELECT count(*) AS n FROM splits_raw")["n"][0].as_py() == 3
        deduped = warehouse.query("SELECT ticker, id, raw_rows FROM splits ORDER BY ticker")
        assert deduped.to_pylist() == [
            {"ticker": "AAA", "id": "a", "raw_rows": 2},
            {"ticker": "BBB", "id": "c", "raw_rows": 1},
        ]
        dividends = warehouse.query("SELECT ticker, raw_rows FROM dividends")
        assert dividends.to_pylist() == [{"ticker": "AAA", "raw_rows": 2}]


# --------------------------------------------------------------------------- adjustment


def test_split_adjustment_forward_and_reverse(daily_lake: Lake) -> None:
    forward, reverse = SESSIONS[5], SESSIONS[12]
    # 2-for-1 forward split, then a 1-for-10 reverse split; the forward one is duplicated in the
    # vendor data (a doubled row would square its factor if it were not de-duplicated).
    events = {
        forward: [split("AAA", forward, 1, 2, "f1"), split("AAA", forward, 1, 2, "f2")],
        reverse: [split("AAA", reverse, 10, 1, "r1")],
    }
    for day, rows in events.items():
        write_rows(daily_lake, "splits", day, rows)
    definitions = [(forward, 1, 2), (reverse, 10, 1)]

    def expected_factor(session: dt.date) -> float:
        return math.prod(to / frm for day, frm, to in definitions if day > session)

    with Warehouse(daily_lake.root) as warehouse:
        rows = warehouse.query(
            "SELECT * FROM daily_bars_adjusted WHERE ticker = 'AAA' ORDER BY session"
        ).to_pylist()
        other = warehouse.query(
            "SELECT DISTINCT split_factor FROM daily_bars_adjusted WHERE ticker <> 'AAA'"
        )
    assert [r["session"] for r in rows] == SESSIONS
    for row in rows:
        factor = expected_factor(row["session"])
        assert row["split_factor"] == pytest.approx(factor, rel=1e-12)
        for column in ("open", "high", "low", "close", "vwap"):
            assert row[f"adj_{column}"] == pytest.approx(row[column] / factor, rel=1e-12)
        assert row["adj_volume"] == pytest.approx(row["volume"] * factor, rel=1e-12)
    # Before both splits: x2 then /10 -> 0.2; between them: 1/10; from the reverse split on: 1.
    assert sorted({round(r["split_factor"], 12) for r in rows}) == [0.1, 0.2, 1.0]
    assert other.to_pylist() == [{"split_factor": 1.0}]


def test_dividend_factor_is_the_crsp_backward_factor(daily_lake: Lake) -> None:
    first, second = SESSIONS[4], SESSIONS[9]
    write_rows(daily_lake, "dividends", first, [dividend("BBB", first, 1.5)])
    write_rows(daily_lake, "dividends", second, [dividend("BBB", second, 0.8)])
    close = {s: closes_for(i)["BBB"] for i, s in enumerate(SESSIONS)}
    # By hand: each ex-date contributes 1 - cash / (close on the session before the ex-date).
    f1 = 1 - 1.5 / close[previous_session(first)]
    f2 = 1 - 0.8 / close[previous_session(second)]
    with Warehouse(daily_lake.root) as warehouse:
        rows = warehouse.query(
            "SELECT session, close, dividend_factor, total_return_close, adj_close "
            "FROM daily_bars_adjusted WHERE ticker = 'BBB' ORDER BY session"
        ).to_pylist()
    for row in rows:
        if row["session"] < first:
            expected = f1 * f2
        elif row["session"] < second:
            expected = f2
        else:
            expected = 1.0
        assert row["dividend_factor"] == pytest.approx(expected, rel=1e-12)
        assert row["total_return_close"] == pytest.approx(row["close"] * expected, rel=1e-12)
        assert row["adj_close"] == row["close"]  # no split: Polygon's adjusted=true is split-only

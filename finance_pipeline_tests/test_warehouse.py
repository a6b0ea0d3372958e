"""The DuckDB warehouse over a real lake: files written by `Lake`, read back through the views."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from finance_pipeline import schemas
from finance_pipeline.calendar import previous_session, sessions_between
from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import COMPACT_DIR, Warehouse, WarehouseError
from finance_pipeline_tests.moto_s3 import moto_s3

SESSIONS = sessions_between(dt.date(2023, 12, 18), dt.date(2024, 1, 12))  # spans two years


def bars(session: dt.date, closes: dict[str, float], source: str = "flat_file_day_aggs"):
    """Curated daily bars of one session; every price derived from the close."""
    midnight = dt.datetime.combine(session, dt.time(5), dt.UTC)
    rows = [
        {
            "ticker": ticker,
            "session": session,
            "window_start": midnight,
            "open": close * 0.99,
            "high": close * 1.02,
            "low": close * 0.97,
            "close": close,
            "volume": 1000.0 + index,
            "vwap": close * 1.001,
            "transactions": 10 + index,
            "source": source,
        }
        for index, (ticker, close) in enumerate(sorted(closes.items()))
    ]
    return pa.Table.from_pylist(rows, schema=schemas.CURATED_BARS)


def flat_aggs(session: dt.date, etag: str, close: float = 10.0) -> pa.Table:
    base = bars(session, {"AAA": close, "BBB": close + 1}).drop_columns(["source"])
    modified = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    base = base.append_column("source_etag", pa.array([etag] * base.num_rows, pa.string()))
    base = base.append_column(
        "source_last_modified", pa.array([modified] * base.num_rows, schemas.TIMESTAMP)
    )
    return base.cast(schemas.FLAT_FILE_DAY_AGGS)


def split(ticker: str, day: dt.date, split_from: float, split_to: float, id_: str) -> dict:
    return {
        "session": day,
        "ticker": ticker,
        "execution_date": day,
        "split_from": split_from,
        "split_to": split_to,
        "id": id_,
    }


def dividend(ticker: str, day: dt.date, cash: float) -> dict:
    return {"session": day, "ticker": ticker, "ex_dividend_date": day, "cash_amount": cash}


def write_rows(lake: Lake, dataset: str, day: dt.date, rows: list[dict]) -> None:
    lake.write(dataset, day, pa.Table.from_pylist(rows, schema=schemas.DATASETS[dataset]))


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["ticker"], r["session"]))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    root = tmp_path / "lake"
    root.mkdir()
    return Lake(str(root))


def closes_for(index: int) -> dict[str, float]:
    return {"AAA": 10.0 + index, "BBB": 50.0 - index, "BRK.A": 500.0 + 2 * index}


@pytest.fixture
def daily_lake(lake: Lake) -> Lake:
    for index, session in enumerate(SESSIONS):
        lake.write("daily_bars", session, bars(session, closes_for(index)))
    return lake


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


# --------------------------------------------------------------------------- errors


def test_bad_sql_gives_a_one_line_warehouse_error(lake: Lake) -> None:
    with Warehouse(lake.root) as warehouse:
        with pytest.raises(WarehouseError) as parse:
            warehouse.query("SELEC * FROM daily_bars")
        assert "Parser Error" in str(parse.value) and "\n" not in str(parse.value)
        with pytest.raises(WarehouseError, match=r"Catalog Error.*no_such_view"):
            warehouse.query("SELECT * FROM no_such_view")


def test_lake_root_that_does_not_exist_or_is_a_file(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="does not exist"):
        Warehouse(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(WarehouseError, match="not a directory"):
        Warehouse(str(tmp_path / "file"))


def test_read_only_warehouse_reads_without_writing(daily_lake: Lake) -> None:
    with Warehouse(daily_lake.root, read_only=True) as warehouse:
        assert warehouse.query("SELECT count(*) AS n FROM daily_bars")["n"][0].as_py() == 3 * len(
            SESSIONS
        )
    assert not (Path(daily_lake.root) / "warehouse.duckdb").exists()


# --------------------------------------------------------------------------- S3 lakes


def test_s3_lake_is_mirrored_read_and_compacted(tmp_path: Path) -> None:
    with moto_s3() as (endpoint, client):
        bucket = f"lake-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        root = f"s3://{bucket}/prod/lake"
        lake = Lake(root, s3_client=client)
        for index, session in enumerate(SESSIONS[:4]):
            lake.write("daily_bars", session, bars(session, closes_for(index)))
        written = pa.concat_tables(bars(s, closes_for(i)) for i, s in enumerate(SESSIONS[:4]))
        cache = tmp_path / "cache"
        with Warehouse(root, s3_endpoint_url=endpoint, s3_client=client, cache_dir=cache) as wh:
            assert sorted_rows(wh.query("SELECT * FROM daily_bars")) == sorted_rows(written)
            assert wh.compact("daily_bars").periods == ["2023"]
            # A restated object in S3 is downloaded again and served over the compacted copy.
            lake.write("daily_bars", SESSIONS[2], bars(SESSIONS[2], {"AAA": 123.0}))
            wh.refresh()
            got = wh.query(f"SELECT ticker, close FROM daily_bars WHERE session = '{SESSIONS[2]}'")
            assert got.to_pylist() == [{"ticker": "AAA", "close": 123.0}]
            # An object deleted from the lake leaves the mirror and the views.
            client.delete_object(
                Bucket=bucket, Key=f"prod/lake/daily_bars/session={SESSIONS[0]}/part-0.parquet"
            )
            wh.refresh()
            days = wh.query("SELECT DISTINCT session FROM daily_bars ORDER BY 1")
            assert days.column("session").to_pylist() == SESSIONS[1:4]
        assert (cache / "warehouse.duckdb").is_file()
        assert (cache / COMPACT_DIR / "daily_bars" / "2023.duckdb").is_file()

        missing = Warehouse(
            "s3://no-such-bucket-x/lake", s3_client=client, cache_dir=tmp_path / "other"
        )
        with pytest.raises(WarehouseError, match=r"no-such-bucket-x.*does not exist"):
            missing.query("SELECT 1")

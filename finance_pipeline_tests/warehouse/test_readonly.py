"""`Warehouse.read`: one reading statement, no file outside the lake, the lake root literal,
and a bad stored file failing only the queries that read it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse, WarehouseError
from finance_pipeline.warehouse.readonly import RefusedQuery, reading_statement
from finance_pipeline_tests.warehouse.support import SESSIONS, bars, closes_for


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "warehouse.duckdb"
    }


@pytest.mark.parametrize(
    "sql",
    [
        "select 1",
        "  WITH x AS (SELECT 1 AS a) SELECT * FROM x;",
        "from daily_bars limit 1",
        "describe daily_bars",
        "show tables",
        "summarize daily_bars",
        "explain select * from daily_bars",
        "explain analyze select count(*) from daily_bars",
    ],
)
def test_reading_statements_pass(sql):
    assert reading_statement(sql)


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("copy (select 1) to 'x.csv'", "COPY"),
        ("attach 'x.duckdb' as x", "ATTACH"),
        ("detach cmp_0_0", "DETACH"),
        ("update daily_bars set close = 1", "UPDATE"),
        ("insert into t values (1)", "INSERT"),
        ("delete from daily_bars", "DELETE"),
        ("create table t as select 1", "CREATE"),
        ("install httpfs", "INSTALL"),
        ("load httpfs", "INSTALL and LOAD"),
        ("pragma enable_profiling", "PRAGMA"),
        ("set enable_external_access = true", "SET"),
        ("reset lock_configuration", "SET"),
        ("export database 'out'", "EXPORT"),
        ("select 1; select 2", "2 statements"),
        ("explain analyze copy (select 1) to 'x.csv'", "COPY"),
        ("", "no SQL statement"),
    ],
)
def test_other_statements_are_refused_saying_why(sql, why):
    with pytest.raises(RefusedQuery, match="query refused") as excinfo:
        reading_statement(sql)
    assert why in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_read_opens_no_file_outside_the_lake(daily_lake: Lake, tmp_path: Path):
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"a": [1]}), outside)
    with Warehouse(daily_lake, database=":memory:") as warehouse:
        assert warehouse.read("select count(*) as n from daily_bars").column("n")[0].as_py() > 0
        for sql in (
            "select * from read_csv('/etc/passwd')",
            f"select * from read_parquet('{outside}')",
            f"select * from '{outside}'",
            "select * from glob('/*')",
        ):
            with pytest.raises(RefusedQuery, match="lake's own files"):
                warehouse.read(sql)
        # The unguarded connection of the pipeline itself is untouched.
        assert warehouse.query(f"select a from read_parquet('{outside}')").num_rows == 1


def test_the_compacted_cache_cannot_be_changed_by_a_query(daily_lake: Lake):
    root = Path(daily_lake.root)
    with Warehouse(daily_lake) as warehouse:
        warehouse.compact("daily_bars")
        before = _digests(root)
        attached = warehouse.read(
            "select database_name from duckdb_databases() where database_name like 'cmp_%'"
        )
        assert attached.num_rows > 0
        name = attached.column(0)[0].as_py()
        for sql in (
            f"update {name}.data set close = close * 10",
            f"detach {name}",
            f"attach '{root}/_compacted/daily_bars/2024.duckdb' as c",
            f"copy (select 1) to '{root}/daily_bars/session={SESSIONS[0]}/part-0.parquet'",
        ):
            with pytest.raises(RefusedQuery):
                warehouse.read(sql)
    assert _digests(root) == before


@pytest.mark.parametrize("name", ["lake[x]", "lake*"])  # ("?": DuckDB files cannot have it)
def test_a_lake_root_with_glob_characters_is_read_literally(tmp_path: Path, name: str):
    ours, sibling = Lake(str(tmp_path / name)), Lake(str(tmp_path / "lakex"))
    (tmp_path / name).mkdir()
    ours.write("daily_bars", SESSIONS[0], bars(SESSIONS[0], closes_for(0)))
    # The sibling holds the same session with other prices: a pattern would read it instead.
    sibling.write("daily_bars", SESSIONS[0], bars(SESSIONS[0], {"ZZZ": 1.0}))
    ticker_sql = "select distinct ticker from daily_bars order by 1"
    with Warehouse(ours, database=":memory:") as warehouse:
        tickers = warehouse.read(ticker_sql).column(0).to_pylist()
        assert tickers == sorted(closes_for(0))
        warehouse.compact("daily_bars")
        warehouse.refresh()
        assert warehouse.read(ticker_sql).column(0).to_pylist() == tickers


def test_a_bad_stored_file_fails_only_the_queries_that_read_it(daily_lake: Lake):
    bad = Path(daily_lake.uri("daily_bars", SESSIONS[2]))
    bad.write_bytes(b"not parquet at all" * 10)
    with Warehouse(daily_lake) as warehouse:
        assert warehouse.read("select 42 as n").column("n").to_pylist() == [42]
        assert warehouse.read("select count(*) from splits")[0][0].as_py() == 0
        for view in ("daily_bars", "daily_bars_adjusted"):
            with pytest.raises(WarehouseError) as excinfo:
                warehouse.read(f"select count(*) from {view}")
            assert str(bad) in str(excinfo.value)

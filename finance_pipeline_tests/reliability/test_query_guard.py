"""`finance-pipeline query` as a hostile user would try it, as real processes: statements that
write the lake or the compacted cache, open other files or databases, change settings or
install extensions, and several statements at once are each refused in one line saying why
(exit 2), and the lake's bytes, compacted files included, are unchanged afterwards. Reading
statements still work; a lake root with glob characters reads only itself; a bad stored file
fails only the queries that read it, naming it.

All cases run concurrently in one module fixture; each test checks one of them."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.reliability.cli_runs import CliResult, run_all
from finance_pipeline_tests.reliability.figures import REGISTRY, digest
from finance_pipeline_tests.reliability.writer import table

DAYS = (dt.date(2025, 1, 2), dt.date(2025, 1, 3))
PART = "daily_bars/session=2025-01-02/part-0.parquet"
CMP = "_compacted/daily_bars/2025.duckdb"

# name -> (SQL, fragments the one error line must contain)
REFUSED: dict[str, tuple[str, list[str]]] = {
    "COPY TO over a lake partition": (
        "copy (select 1 as a) to '{lake}/" + PART + "' (format parquet)",
        ["COPY"],
    ),
    "ATTACH the compacted cache, then UPDATE it": (
        "attach '{lake}/" + CMP + "' as c; update c.data set close = close * 10",
        ["2 statements"],
    ),
    "ATTACH the compacted cache read-write": ("attach '{lake}/" + CMP + "' as c", ["ATTACH"]),
    "UPDATE the attached compacted cache": (
        "update cmp_0_0.data set close = close * 10",
        ["UPDATE"],
    ),
    "read /etc/passwd": ("select * from read_csv('/etc/passwd')", ["/etc/passwd", "lake"]),
    "read a Parquet file outside the lake": (
        "select * from read_parquet('{outside}')",
        ["outside.parquet", "lake"],
    ),
    "several statements": ("select 1; select 2; select 3", ["3 statements"]),
    "INSTALL an extension": ("install httpfs", ["INSTALL"]),
    "CREATE a table": ("create table t as select 1", ["CREATE"]),
    "SET a setting": ("set enable_external_access = true", ["SET"]),
    "PRAGMA": ("pragma enable_profiling", ["PRAGMA"]),
    "EXPLAIN ANALYZE of a COPY": (
        "explain analyze copy (select 1) to '{lake}/x.csv'",
        ["COPY"],
    ),
    "DELETE from a view": ("delete from daily_bars", ["DELETE"]),
}


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): digest(p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "warehouse.duckdb"
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("query-guard")
    lake_root = root / "lake"
    lake = Lake(str(lake_root))
    for day in DAYS:
        lake.write("daily_bars", day, table(day, 10, 1))
    with Warehouse(lake) as warehouse:
        warehouse.compact("daily_bars")
    outside = root / "outside.parquet"
    pq.write_table(pa.table({"secret": ["not yours"]}), outside)
    # A root with glob characters beside a sibling it would match as a pattern.
    globbed, sibling = Lake(str(root / "lake[x]")), Lake(str(root / "lakex"))
    (root / "lake[x]").mkdir()
    globbed.write("daily_bars", DAYS[0], table(DAYS[0], 10, 1))
    sibling.write("daily_bars", DAYS[0], table(DAYS[0], 20, 2))  # same session, other rows
    # A lake with one garbage file.
    bad_lake = Lake(str(root / "bad-lake"))
    for day in DAYS:
        bad_lake.write("daily_bars", day, table(day, 10, 1))
    bad_file = Path(bad_lake.uri("daily_bars", DAYS[1]))
    bad_file.write_bytes(b"garbage, not parquet" * 20)

    before = _digests(lake_root)
    places = {"{lake}": str(lake_root), "{outside}": str(outside)}
    cases = {}
    for name, (sql, _) in REFUSED.items():
        for key, value in places.items():
            sql = sql.replace(key, value)
        cases[name] = (["query", sql], {"FINANCE_PIPELINE_LAKE": str(lake_root)})
    count = "select count(*) as n, count(distinct session) as s from daily_bars"
    cases["reading"] = (["query", count, "--csv"], {"FINANCE_PIPELINE_LAKE": str(lake_root)})
    cases["describe"] = (
        ["query", "describe daily_bars"],
        {"FINANCE_PIPELINE_LAKE": str(lake_root)},
    )
    cases["glob root"] = (
        ["query", count, "--csv"],
        {"FINANCE_PIPELINE_LAKE": str(root / "lake[x]")},
    )
    bad = {"FINANCE_PIPELINE_LAKE": str(bad_lake.root)}
    cases["bad file: select 1"] = (["query", "select 1 as one", "--csv"], bad)
    cases["bad file: its view"] = (["query", count], bad)
    results = run_all(cases, cwd=root)
    for name, result in results.items():
        REGISTRY.add_text(f"CLI query {name}: stdout", result.stdout)
        REGISTRY.add_text(f"CLI query {name}: stderr", result.stderr)
    return {
        "results": results,
        "before": before,
        "after": _digests(lake_root),
        "bad_file": str(bad_file),
    }


def _rows(result: CliResult) -> list[list[str]]:
    return list(csv.reader(result.stdout.splitlines()))


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_statement_that_is_not_a_read_is_refused_in_one_line(world, name, figure):
    _, fragments = REFUSED[name]
    figure.category, figure.scenario = "query", f"refused: {name}"
    result: CliResult = world["results"][name]
    before, after = world["before"], world["after"]
    changed = [k for k in before if after.get(k) != before[k]] + sorted(set(after) - set(before))
    figure.faults_injected += 1
    figure.runs += 1
    figure.partitions_checked += len(before)
    figure.partitions_corrupted += len(changed)
    lines = result.stderr_lines
    ok = (
        result.returncode == 2
        and len(lines) == 1
        and lines == result.error_lines
        and all(f in lines[0] for f in fragments)
        and "Traceback" not in result.stdout + result.stderr
    )
    figure.runs_failed_clearly += int(ok)

    assert result.returncode == 2, result.describe()
    assert len(lines) == 1 and lines == result.error_lines, result.describe()
    assert "refused" in lines[0], result.describe()
    for fragment in fragments:
        assert fragment in lines[0], result.describe()
    assert not changed  # the lake and its compacted cache are byte-identical
    assert "not yours" not in result.stdout
    assert ok


def test_reading_statements_still_work(world, figure):
    figure.category, figure.scenario = "query", "reading statements answer"
    results = world["results"]
    figure.runs += 2
    assert results["reading"].returncode == 0, results["reading"].describe()
    assert _rows(results["reading"]) == [["n", "s"], ["20", "2"]]
    assert results["describe"].returncode == 0, results["describe"].describe()
    assert "close" in results["describe"].stdout


def test_a_lake_root_with_glob_characters_reads_only_itself(world, figure):
    figure.category, figure.scenario = "query", "a lake root named lake[x] beside lakex"
    result = world["results"]["glob root"]
    figure.faults_injected += 1
    figure.runs += 1
    held = result.returncode == 0 and _rows(result)[1:] == [["10", "1"]]
    figure.runs_recovered += int(held)
    assert result.returncode == 0, result.describe()
    assert _rows(result) == [["n", "s"], ["10", "1"]]  # ours, not lakex's 20 rows
    assert held


def test_a_bad_stored_file_fails_only_the_queries_that_read_it(world, figure):
    figure.category, figure.scenario = "query", "one garbage partition file in the lake"
    results, bad_file = world["results"], world["bad_file"]
    one, view = results["bad file: select 1"], results["bad file: its view"]
    figure.faults_injected += 1
    figure.runs += 2
    named = len(view.error_lines) == 1 and bad_file in view.error_lines[0]
    held = one.returncode == 0 and _rows(one) == [["one"], ["1"]] and view.returncode != 0
    figure.runs_failed_clearly += int(held and named)
    assert one.returncode == 0, one.describe()
    assert _rows(one) == [["one"], ["1"]]
    assert view.returncode != 0 and named, view.describe()
    assert "Traceback" not in view.stdout + view.stderr

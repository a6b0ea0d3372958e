"""The `finance-pipeline` CLI: through click's CliRunner, and as a real subprocess for exit codes
and stderr."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from finance_pipeline.calendar import NEW_YORK, sessions_between
from finance_pipeline.cli import cli
from finance_pipeline.lake import Lake

SP500 = ",".join(f"T{i:03d}" for i in range(500))
YEAR = ("2024-01-01", "2024-12-31")  # 252 sessions
# Every variable the CLI reads, cleared so the developer's environment cannot leak in.
CONTRACT = (
    "POLYGON_API_KEY",
    "POLYGON_BASE_URL",
    "POLYGON_PLAN",
    "POLYGON_RATE_LIMIT_PER_MINUTE",
    "FLATFILES_ENDPOINT_URL",
    "FLATFILES_ACCESS_KEY_ID",
    "FLATFILES_SECRET_ACCESS_KEY",
    "FLATFILES_BUCKET",
    "FINANCE_PIPELINE_LAKE",
    "FINANCE_PIPELINE_LAKE_ENDPOINT_URL",
    "FINANCE_PIPELINE_WATCHLIST",
    "DAGSTER_HOME",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path) -> Path:
    """No contract variable set except a fresh, empty lake; returns the lake root."""
    for name in CONTRACT:
        monkeypatch.delenv(name, raising=False)
    lake = tmp_path / "lake"
    monkeypatch.setenv("FINANCE_PIPELINE_LAKE", str(lake))
    return lake


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def cli_process(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """`finance-pipeline ARGS` as its own process, with exactly `env` on top of PATH/HOME."""
    base = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    script = Path(sys.executable).with_name("finance-pipeline")
    return subprocess.run(
        [str(script), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("finance-pipeline: error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0]


# ----------------------------------------------------------------------------- plan


def test_plan_year_of_sp500_without_flat_files_is_one_call_per_session(clean_env):
    result = invoke("plan", *YEAR, "--tickers", SP500, "--json", env={"POLYGON_PLAN": "paid"})
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output)["totals"]
    assert totals["api_calls"] == 252
    assert totals["s3_gets"] == 0
    assert totals["old_path_calls"] == 126_000
    assert totals["sessions_by_source"]["grouped_daily"] == 252


def test_plan_year_of_sp500_with_flat_files_costs_no_calls(clean_env):
    env = {"POLYGON_PLAN": "paid", "FLATFILES_ACCESS_KEY_ID": "AKIDEXAMPLE"}
    result = invoke("plan", *YEAR, "--tickers", SP500, "--json", env=env)
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output)["totals"]
    assert totals["api_calls"] == 0
    assert totals["s3_gets"] == 252
    assert totals["old_path_calls"] == 126_000
    assert totals["calls_saved"] == 126_000


def test_plan_table_shows_the_totals_against_the_old_path(clean_env):
    result = invoke("plan", *YEAR, "--tickers", SP500, env={"POLYGON_PLAN": "free"})
    assert result.exit_code == 0, result.output
    assert "grouped_daily        252         252" in result.output
    assert "old per-ticker path: 126,000 calls" in result.output
    assert "saved 125,748 calls" in result.output


def test_plan_skips_sessions_already_in_the_lake(clean_env):
    day = dt.date(2024, 3, 4)
    midnight = pd.Timestamp(dt.datetime.combine(day, dt.time(), NEW_YORK)).tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "ticker": ["AAPL"],
            "session": [day],
            "window_start": [midnight],
            **{c: [1.0] for c in ("open", "high", "low", "close", "volume", "vwap")},
            "transactions": [1],
            "source": ["grouped_daily_bars"],
        }
    )
    Lake(str(clean_env)).write("daily_bars", day, frame)

    plain = json.loads(invoke("plan", "2024-03-04", "2024-03-08", "--json").output)
    forced = json.loads(invoke("plan", "2024-03-04", "2024-03-08", "--json", "--force").output)

    assert plain["skipped"] == ["2024-03-04"]
    assert [s["session"] for s in plain["sessions"]] == [
        d.isoformat() for d in sessions_between(dt.date(2024, 3, 5), dt.date(2024, 3, 8))
    ]
    assert forced["skipped"] == []
    assert len(forced["sessions"]) == 5


# ----------------------------------------------------------------------------- bad input


BAD_INPUT = [
    (["plan", "2024-01-06", "2024-01-07"], ["no NYSE trading session between 2024-01-06"]),
    (["plan", "2024-03-01", "2024-02-01"], ["END 2024-02-01 is before START 2024-03-01"]),
    (["plan", "2024-01-02", "2999-01-02"], ["END 2999-01-02 is in the future"]),
    (["plan", "2024-13-01", "2024-12-31"], ["START '2024-13-01' is not a date"]),
    (["plan", "2024-01-02", "2024-01-05", "--dataset", "weekly"], ["'weekly' is not one of"]),
    (["plan", "2024-01-02"], ["Missing argument 'END'", "plan --help"]),
    (["plan", "2024-01-02", "2024-01-05", "--tickers", " , "], ["--tickers is empty"]),
    (["backfill", "2024-01-02", "2024-01-05", "--dataset", "x"], ["'x' is not one of"]),
    (["backfill", "2024-01-02", "2024-01-05", "--max-calls", "-1"], ["--max-calls"]),
    (["sandbox", "--start", "2024-02-01", "--end", "2024-01-01"], ["--end 2024-01-01 is before"]),
    (["demo", "--tickers", "3"], ["--tickers"]),
    (["nonsense"], ["No such command 'nonsense'"]),
]


@pytest.mark.parametrize(("args", "fragments"), BAD_INPUT)
def test_bad_input_is_one_line_with_exit_code_2(clean_env, args, fragments):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("finance-pipeline: error: ")
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("args", "fragments"), [BAD_INPUT[0], BAD_INPUT[4], BAD_INPUT[-1]])
def test_bad_input_in_a_real_process(tmp_path, args, fragments):
    proc = cli_process(*args, env={"FINANCE_PIPELINE_LAKE": str(tmp_path / "lake")})
    assert_one_line_error(proc, 2, *fragments)
    assert proc.stdout == ""


def test_a_lake_path_that_is_a_file_is_refused(tmp_path):
    not_a_dir = tmp_path / "lake"
    not_a_dir.write_text("oops")
    proc = cli_process(
        "plan", "2024-01-02", "2024-01-05", env={"FINANCE_PIPELINE_LAKE": str(not_a_dir)}
    )
    assert_one_line_error(proc, 2, f"FINANCE_PIPELINE_LAKE={not_a_dir} is a file")


def test_an_s3_lake_without_bucket_is_refused(tmp_path):
    proc = cli_process(
        "plan", "2024-01-02", "2024-01-05", env={"FINANCE_PIPELINE_LAKE": "s3:///prices"}
    )
    assert_one_line_error(proc, 2, "has no bucket")


def test_bad_env_values_are_named(tmp_path):
    env = {"FINANCE_PIPELINE_LAKE": str(tmp_path / "lake"), "POLYGON_PLAN": "gold"}
    proc = cli_process("plan", "2024-01-02", "2024-01-05", env=env)
    assert_one_line_error(proc, 2, "POLYGON_PLAN is 'gold': it must be free or paid")


def test_status_without_dagster_home_says_so(tmp_path):
    proc = cli_process("status", env={"FINANCE_PIPELINE_LAKE": str(tmp_path / "lake")})
    assert_one_line_error(proc, 2, "DAGSTER_HOME is not set")


def test_demo_refuses_to_spend_a_real_key_and_never_prints_it(tmp_path):
    secret = "pk_live_do_not_print_me_123"
    env = {
        "POLYGON_API_KEY": secret,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "FINANCE_PIPELINE_LAKE": str(tmp_path / "lake"),
    }
    proc = cli_process("demo", env=env)
    assert_one_line_error(proc, 2, "POLYGON_API_KEY is set", "--real")
    assert secret not in proc.stdout + proc.stderr
    assert not (tmp_path / "home").exists()  # refused before touching anything


def test_every_command_has_help():
    for command in ("plan", "backfill", "query", "status", "sandbox", "demo"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert f"Usage: finance-pipeline {command}" in result.output


# ----------------------------------------------------------------------------- backfill guards


def test_backfill_refuses_plans_above_max_calls(clean_env):
    proc = cli_process(
        "backfill",
        "2024-03-04",
        "2024-03-08",
        "--max-calls",
        "3",
        env={"FINANCE_PIPELINE_LAKE": str(clean_env), "POLYGON_PLAN": "paid"},
    )
    assert_one_line_error(proc, 2, "needs 5 API calls, above --max-calls 3")
    assert "grouped_daily" in proc.stdout  # the quote was shown first


def test_backfill_asks_before_spending_many_calls_and_stops_on_no(clean_env):
    result = CliRunner().invoke(
        cli,
        ["backfill", "2024-03-04", "2024-03-08", "--confirm-above", "2"],
        env={"POLYGON_PLAN": "paid"},
        input="n\n",
    )
    assert result.exit_code == 1
    assert "Spend 5 API calls?" in result.output
    assert "aborted" in result.output
    assert "submitted" not in result.output


def test_backfill_with_everything_stored_does_nothing(clean_env, tmp_path):
    day = dt.date(2024, 3, 4)
    lake = Lake(str(clean_env))
    for name in ("splits", "dividends"):
        lake.write(name, day, lake.schema(name).empty_table())
    result = invoke("backfill", "2024-03-04", "2024-03-04", "--dataset", "corporate_actions")
    assert result.exit_code == 0, result.output
    assert "nothing to do: all stored (use --force)" in result.output


# ----------------------------------------------------------------------------- backfill runs
# Two sessions of January 2025: the router (real clock) sends them to flat files.
JAN = ("2025-01-29", "2025-01-30")
JAN_SESSIONS = [dt.date(2025, 1, 29), dt.date(2025, 1, 30)]


@pytest.fixture
def pipeline_env(clean_env, tmp_path, monkeypatch, sandbox) -> dict[str, str]:
    """The shared sandbox's environment, a fresh Dagster home and the clean lake."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**sandbox.env(), "DAGSTER_HOME": str(home), "FINANCE_PIPELINE_LAKE": str(clean_env)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_backfill_submits_a_partition_backfill_to_the_instance(pipeline_env):
    import dagster as dg

    result = invoke("backfill", *JAN, "--yes")

    assert result.exit_code == 0, result.output
    assert "submitted backfill" in result.output
    with dg.DagsterInstance.get() as instance:
        backfills = instance.get_backfills()
        assert len(backfills) == 1
        backfill = backfills[0]
        assert backfill.backfill_id in result.output
        targeted = backfill.asset_backfill_data.target_subset
        expected = {d.isoformat() for d in JAN_SESSIONS}
        for asset in ("flat_file_day_aggs", "daily_bars"):
            keys = targeted.get_partitions_subset(dg.AssetKey(asset)).get_partition_keys()
            assert set(keys) == expected
        assert set(targeted.asset_keys) == {
            dg.AssetKey("flat_file_day_aggs"),
            dg.AssetKey("daily_bars"),
        }
    assert Lake(pipeline_env["FINANCE_PIPELINE_LAKE"]).stored_sessions("daily_bars") == []


def test_a_backfill_carries_the_planned_tickers_to_the_rest_fills(pipeline_env, monkeypatch):
    import dagster as dg

    monkeypatch.delenv("FLATFILES_ACCESS_KEY_ID")  # no flat files: minute bars over REST
    monkeypatch.setenv("FINANCE_PIPELINE_WATCHLIST", "AAPL, MSFT")
    result = invoke("backfill", *JAN, "--dataset", "minute_bars", "--yes")

    assert result.exit_code == 0, result.output
    with dg.DagsterInstance.get() as instance:
        (backfill,) = instance.get_backfills()
        assert backfill.run_config == {
            "ops": {"rest_fills": {"config": {"tickers": ["AAPL", "MSFT"]}}}
        }
        targeted = backfill.asset_backfill_data.target_subset
        assert set(targeted.asset_keys) == {dg.AssetKey("rest_fills"), dg.AssetKey("minute_bars")}


def test_backfill_in_process_runs_raw_then_curated_and_skips_stored_next_time(pipeline_env):
    import dagster as dg

    first = invoke("backfill", *JAN, "--in-process")

    assert first.exit_code == 0, first.output
    assert "2 run(s) succeeded, 0 failed" in first.output
    lake = Lake(pipeline_env["FINANCE_PIPELINE_LAKE"])
    assert lake.stored_sessions("flat_file_day_aggs") == JAN_SESSIONS
    assert lake.stored_sessions("daily_bars") == JAN_SESSIONS
    for day in JAN_SESSIONS:
        assert set(lake.read("daily_bars", day)["source"].to_pylist()) == {"flat_file_day_aggs"}
    with dg.DagsterInstance.get() as instance:
        materialized = instance.get_materialized_partitions(dg.AssetKey("daily_bars"))
        assert materialized == {d.isoformat() for d in JAN_SESSIONS}

    again = invoke("backfill", *JAN, "--in-process")
    assert again.exit_code == 0, again.output
    assert "skipped, already stored: 2 session(s)" in again.output
    assert "nothing to do: all stored (use --force)" in again.output

    # status: one range run of 2 sessions recorded s3_gets=2 on each partition; counted once.
    status = json.loads(invoke("status", "--json").output)
    costs = {c["asset"]: c for c in status["costs"]}
    assert costs["flat_file_day_aggs"]["partitions"] == 2
    assert costs["flat_file_day_aggs"]["s3_gets"] == 2
    assert costs["flat_file_day_aggs"]["api_calls"] == 0
    tickers = sum(len(set(lake.read("daily_bars", d)["ticker"].to_pylist())) for d in JAN_SESSIONS)
    assert costs["daily_bars"]["old_path_calls"] == tickers
    coverage = {c["dataset"]: c for c in status["coverage"]}
    assert coverage["daily_bars"]["sources"] == {"flat_file_day_aggs": 2}
    assert coverage["daily_bars"]["first"] == "2025-01-29"
    assert status["totals"]["s3_gets"] == 2


# ----------------------------------------------------------------------------- query


def curated_frame(day: dt.date, tickers: list[str], source: str) -> pd.DataFrame:
    midnight = pd.Timestamp(dt.datetime.combine(day, dt.time(), NEW_YORK)).tz_convert("UTC")
    return pd.DataFrame(
        {
            "ticker": tickers,
            "session": day,
            "window_start": midnight,
            **{c: [float(i + 1) for i in range(len(tickers))] for c in ("open", "high", "low")},
            "close": [float(i + 1) for i in range(len(tickers))],
            "volume": 100.0,
            "vwap": None,
            "transactions": 1,
            "source": source,
        }
    )


@pytest.fixture
def small_lake(clean_env) -> Path:
    lake = Lake(str(clean_env))
    lake.write(
        "daily_bars", dt.date(2024, 3, 4), curated_frame(dt.date(2024, 3, 4), ["A", "B", "NA"], "x")
    )
    lake.write("daily_bars", dt.date(2024, 3, 5), curated_frame(dt.date(2024, 3, 5), ["A"], "y"))
    return clean_env


SQL = "select source, count(*) as n from daily_bars group by source order by source"


def test_query_prints_a_table(small_lake):
    result = invoke("query", SQL)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["source", "n"]
    assert [line.split() for line in lines[2:4]] == [["x", "3"], ["y", "1"]]
    assert lines[-1] == "(2 row(s))"


def test_query_writes_csv_and_parquet(small_lake, tmp_path):
    import pyarrow.parquet as pq

    csv = invoke("query", "select ticker from daily_bars order by ticker", "--csv")
    assert csv.exit_code == 0, csv.output
    assert csv.output.split() == ['"ticker"', '"A"', '"A"', '"B"', '"NA"']  # NA stays a ticker

    target = tmp_path / "out.parquet"
    result = invoke("query", SQL, "--parquet", str(target))
    assert result.exit_code == 0, result.output
    assert pq.read_table(target).to_pydict() == {"source": ["x", "y"], "n": [3, 1]}


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("selec * from daily_bars", "syntax error"),
        ("select * from no_such_view", "no_such_view does not exist"),
    ],
)
def test_malformed_sql_is_one_line(small_lake, sql, fragment):
    result = CliRunner().invoke(cli, ["query", sql])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("finance-pipeline: error: query failed")
    assert fragment in result.stderr


def test_query_on_a_missing_lake_in_a_real_process(tmp_path):
    missing = tmp_path / "nowhere"
    proc = cli_process("query", "select 1", env={"FINANCE_PIPELINE_LAKE": str(missing)})
    assert_one_line_error(proc, 2, f"lake root {missing} does not exist")


# ----------------------------------------------------------------------------- sandbox


def test_sandbox_command_serves_until_interrupted(tmp_path):
    import shlex
    import signal
    import time
    import urllib.request

    base = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    script = Path(sys.executable).with_name("finance-pipeline")
    proc = subprocess.Popen(
        [str(script), "sandbox", "--tickers", "20", "--cache-dir", str(tmp_path / "cache")],
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("# sandbox:"):
                break
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = shlex.split(value)[0]
        assert exports["POLYGON_BASE_URL"].startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            exports["POLYGON_BASE_URL"] + "/v1/marketstatus/now",
            headers={"Authorization": f"Bearer {exports['POLYGON_API_KEY']}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["market"] in {"open", "closed", "extended-hours"}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read()

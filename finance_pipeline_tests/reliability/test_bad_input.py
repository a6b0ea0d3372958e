"""Bad input on the CLI entry point, as real `finance-pipeline` processes: one line on stderr
naming what is wrong, a non-zero exit, never a traceback.

All cases run concurrently in one module fixture; each test checks one of them. A stray
`session=` directory whose name is not a session is the one input that is not an error: the
lake reader skips it with a one-line warning, so one bad directory cannot make the lake
unusable (`Lake.stored_sessions`)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline_tests.reliability.cli_runs import ERROR_PREFIX, CliResult, run_all
from finance_pipeline_tests.reliability.figures import REGISTRY
from finance_pipeline_tests.reliability.writer import table

TODAY = dt.date.today()
FUTURE_END = TODAY + dt.timedelta(days=10)

# name -> (args, extra env, fragments the error line must contain, xfail reason or None)
CASES: dict[str, tuple[list[str], dict[str, str], list[str], str | None]] = {
    "dates that are not sessions": (
        ["plan", "2025-01-04", "2025-01-05"],
        {},
        ["no NYSE trading session between 2025-01-04 and 2025-01-05"],
        None,
    ),
    "a closure as a backfill range": (
        ["backfill", "2025-01-09", "2025-01-09", "--in-process", "--yes"],
        {},
        ["no NYSE trading session", "2025-01-09"],
        None,
    ),
    "a future date": (
        ["plan", (TODAY - dt.timedelta(days=20)).isoformat(), FUTURE_END.isoformat()],
        {},
        [f"END {FUTURE_END} is in the future"],
        None,
    ),
    "END before START": (
        ["plan", "2025-03-03", "2025-02-03"],
        {},
        ["END 2025-02-03 is before START 2025-03-03"],
        None,
    ),
    "a date that does not exist": (
        ["plan", "2025-02-30", "2025-03-03"],
        {},
        ["'2025-02-30' is not a date"],
        None,
    ),
    "an impossible ticker": (
        ["plan", "2025-01-02", "2025-01-08", "--tickers", "AAPL,NOT A TICKER!"],
        {},
        ["NOT A TICKER!"],
        None,
    ),
    "malformed SQL": (
        ["query", "selec * frm daily_bars"],
        {},
        ["syntax error"],
        None,
    ),
    "a lake path that is a file": (
        ["plan", "2025-01-02", "2025-01-08"],
        {"FINANCE_PIPELINE_LAKE": "{file}"},
        ["FINANCE_PIPELINE_LAKE=", "is a file"],
        None,
    ),
    "a lake path that does not exist (query)": (
        ["query", "select 1"],
        {"FINANCE_PIPELINE_LAKE": "{missing}"},
        ["lake root", "does not exist"],
        None,
    ),
    "a lake path that is a file (query)": (
        ["query", "select 1"],
        {"FINANCE_PIPELINE_LAKE": "{file}"},
        ["FINANCE_PIPELINE_LAKE=", "is a file"],
        None,
    ),
    "an S3 lake without a bucket": (
        ["plan", "2025-01-02", "2025-01-08"],
        {"FINANCE_PIPELINE_LAKE": "s3:///prices"},
        ["has no bucket"],
        None,
    ),
    "a DAGSTER_HOME that does not exist": (
        ["status"],
        {"DAGSTER_HOME": "{missing}"},
        ["DAGSTER_HOME=", "is not a directory"],
        None,
    ),
    "missing credentials": (
        ["backfill", "2025-01-15", "2025-01-15", "--in-process", "--yes"],
        {"DAGSTER_HOME": "{home}", "POLYGON_PLAN": "paid"},
        ["POLYGON_API_KEY"],
        None,
    ),
}
STRAY = dt.date(2025, 1, 4)  # a Saturday
STORED = dt.date(2025, 1, 3)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bad-input")
    not_a_dir = root / "lake-file"
    not_a_dir.write_text("not a lake")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    REGISTRY.add_path(home)
    places = {"{file}": str(not_a_dir), "{missing}": str(root / "nowhere"), "{home}": str(home)}
    (root / "lake").mkdir()  # the default lake: empty

    # A lake with one good partition and a stray directory named for a Saturday.
    stray_lake = root / "stray-lake"
    lake = Lake(str(stray_lake))
    good = Path(lake.write("daily_bars", STORED, table(STORED, 10, 1)).uri)
    stray = stray_lake / "daily_bars" / f"session={STRAY}" / "part-0.parquet"
    stray.parent.mkdir()
    stray.write_bytes(good.read_bytes())

    cases = {}
    for name, (args, env, _, _) in CASES.items():
        resolved = {k: places.get(v, v) for k, v in env.items()}
        cases[name] = (args, {"FINANCE_PIPELINE_LAKE": str(root / "lake"), **resolved})
    cases["stray"] = (
        ["plan", "2025-01-02", "2025-01-08", "--json"],
        {"FINANCE_PIPELINE_LAKE": str(stray_lake)},
    )
    cases["stray query"] = (
        ["query", "select count(*) as n, min(session) as first from daily_bars", "--csv"],
        {"FINANCE_PIPELINE_LAKE": str(stray_lake)},
    )
    results = run_all(cases, cwd=root)
    for name, result in results.items():
        REGISTRY.add_text(f"CLI {name}: stdout", result.stdout)
        REGISTRY.add_text(f"CLI {name}: stderr", result.stderr)
    return results


def _params():
    for name, (_, _, _, reason) in CASES.items():
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(name, marks=marks, id=name)


def clear_failure(result: CliResult, fragments: list[str]) -> bool:
    """One `finance-pipeline: error:` line naming the problem, a non-zero exit, no traceback."""
    everything = result.stdout + result.stderr
    lines = result.error_lines
    return (
        result.returncode != 0
        and len(lines) == 1
        and all(fragment in lines[0] for fragment in fragments)
        and "Traceback" not in everything
        and "Stack Trace" not in everything
    )


@pytest.mark.parametrize("name", _params())
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(world, name, figure):
    args, _, fragments, _ = CASES[name]
    figure.category, figure.scenario = "bad input", f"CLI: {name}"
    result = world[name]
    figure.faults_injected += 1
    figure.runs += 1
    ok = clear_failure(result, fragments)
    figure.runs_failed_clearly += int(ok)

    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.stdout + result.stderr, result.describe()
    assert "Stack Trace" not in result.stdout + result.stderr, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    for fragment in fragments:
        assert fragment in result.error_lines[0], result.describe()
    if args[0] != "backfill":  # a backfill's progress bar shares stderr
        assert result.stderr_lines == result.error_lines, result.describe()
    assert ok


def test_a_stray_session_directory_is_named_and_skipped(world, figure):
    figure.category = "bad input"
    figure.scenario = f"CLI: a partition directory named for a non-session ({STRAY})"
    result = world["stray"]
    figure.faults_injected += 1
    figure.runs += 1
    warnings = result.stderr_lines
    plan = json.loads(result.stdout) if result.returncode == 0 else {}
    handled = (
        result.returncode == 0
        and len(warnings) == 1
        and f"session={STRAY}" in warnings[0]
        and "not an NYSE trading session" in warnings[0]
        and plan.get("skipped") == [STORED.isoformat()]
    )
    figure.runs_recovered += int(handled)

    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.stdout + result.stderr
    assert len(warnings) == 1 and not warnings[0].startswith(ERROR_PREFIX), result.describe()
    assert f"session={STRAY}" in warnings[0] and "not an NYSE trading session" in warnings[0]
    # The stray directory is not taken for a stored session; the real one is.
    assert plan["skipped"] == [STORED.isoformat()]
    assert STRAY.isoformat() not in json.dumps(plan["sessions"])


def test_a_stray_session_directory_is_not_read_by_the_warehouse(world, figure):
    figure.category = "bad input"
    figure.scenario = f"CLI query: a partition directory named for a non-session ({STRAY})"
    result = world["stray query"]
    figure.faults_injected += 1
    figure.runs += 1
    rows = list(csv.reader(result.stdout.splitlines()))
    warnings = result.stderr_lines
    named = len(warnings) == 1 and f"session={STRAY}" in warnings[0]
    handled = result.returncode == 0 and rows[1:] == [["10", str(STORED)]] and named
    figure.runs_recovered += int(handled)

    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.stdout + result.stderr
    assert rows == [["n", "first"], ["10", str(STORED)]], result.describe()  # stray not counted
    assert named, result.describe()

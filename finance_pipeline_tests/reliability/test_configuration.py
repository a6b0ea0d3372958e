"""Configuration errors, as real `finance-pipeline` processes: every variable of the environment
contract is checked at start, on every command (`status` too), and a bad value is ONE line
naming the variable, its value unless it is a secret, and what is allowed; exit 2; no trace.

All cases run concurrently in one module fixture; each test checks one of them."""

from __future__ import annotations

import shutil

import pytest

from finance_pipeline_tests.reliability.cli_runs import CliResult, run_all
from finance_pipeline_tests.reliability.figures import REGISTRY
from finance_pipeline_tests.reliability.support import REPO

WEBHOOK_TOKEN = "T0KEN-b7f3e1d2c4a5968778695a4b3c2d1e0f"
PLAN = ["plan", "2025-01-02", "2025-01-08"]

# name -> (args, extra env, fragments the one error line must contain)
CASES: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    "a rate limit that is not a number (status)": (
        ["status"],
        {"POLYGON_RATE_LIMIT_PER_MINUTE": "abc", "DAGSTER_HOME": "{home}"},
        ["POLYGON_RATE_LIMIT_PER_MINUTE is 'abc'", "whole number"],
    ),
    "an S3 lake of no bucket at all": (
        ["query", "select 1"],
        {"FINANCE_PIPELINE_LAKE": "s3://"},
        ["FINANCE_PIPELINE_LAKE is 's3://'", "no bucket"],
    ),
    "a relative DAGSTER_HOME": (
        ["status"],
        {"DAGSTER_HOME": "relative/home"},
        ["DAGSTER_HOME is 'relative/home'", "absolute"],
    ),
    "a schedule time that is no time of day": (
        PLAN,
        {"FINANCE_PIPELINE_DAILY_SCHEDULE_TIME": "25:99"},
        ["FINANCE_PIPELINE_DAILY_SCHEDULE_TIME is '25:99'", "HH:MM"],
    ),
    "a correction window that is not a number": (
        ["status"],
        {"FINANCE_PIPELINE_CORRECTION_SESSIONS": "abc", "DAGSTER_HOME": "{home}"},
        ["FINANCE_PIPELINE_CORRECTION_SESSIONS is 'abc'", "whole number of at least 1"],
    ),
    "an unknown executor": (
        ["backfill", "2025-01-02", "2025-01-03", "--in-process", "--yes"],
        {"FINANCE_PIPELINE_EXECUTOR": "bogus", "DAGSTER_HOME": "{home}"},
        ["FINANCE_PIPELINE_EXECUTOR is 'bogus'", "in_process or celery or k8s"],
    ),
    "an unknown plan": (
        PLAN,
        {"POLYGON_PLAN": "gold"},
        ["POLYGON_PLAN is 'gold'", "free or paid"],
    ),
    "a base URL without a scheme": (
        PLAN,
        {"POLYGON_BASE_URL": "api.polygon.io"},
        ["POLYGON_BASE_URL is 'api.polygon.io'", "http"],
    ),
    "a sensor interval of zero": (
        PLAN,
        {"FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL": "0"},
        ["FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL is '0'", "at least 1"],
    ),
    "a watchlist with a bad symbol": (
        PLAN,
        {"FINANCE_PIPELINE_WATCHLIST": "AAPL,NOT A TICKER"},
        ["FINANCE_PIPELINE_WATCHLIST", "'NOT A TICKER' is not one"],
    ),
    "a webhook URL without a scheme (secret)": (
        ["status"],
        {"FINANCE_PIPELINE_ALERT_WEBHOOK_URL": f"hooks.example.com/{WEBHOOK_TOKEN}"},
        ["FINANCE_PIPELINE_ALERT_WEBHOOK_URL", "not shown", "http"],
    ),
    "deploy/dagster.yaml without DAGSTER_PG_* (status)": (
        ["status"],
        {"DAGSTER_HOME": "{pg_home}"},
        ["dagster.yaml", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "not set"],
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, CliResult]:
    REGISTRY.add_secret("a webhook URL's token", WEBHOOK_TOKEN)
    root = tmp_path_factory.mktemp("configuration")
    home, pg_home = root / "home", root / "pg_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    pg_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", pg_home / "dagster.yaml")
    places = {"{home}": str(home), "{pg_home}": str(pg_home)}
    (root / "lake").mkdir()
    cases = {
        name: (
            args,
            {"FINANCE_PIPELINE_LAKE": str(root / "lake")}
            | {k: places.get(v, v) for k, v in env.items()},
        )
        for name, (args, env, _) in CASES.items()
    }
    results = run_all(cases, cwd=root)
    for name, result in results.items():
        REGISTRY.add_text(f"CLI {name}: stdout", result.stdout)
        REGISTRY.add_text(f"CLI {name}: stderr", result.stderr)
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_variable_is_one_line_naming_it_and_exit_2(world, name, figure):
    _, _, fragments = CASES[name]
    figure.category, figure.scenario = "configuration", f"CLI: {name}"
    result = world[name]
    figure.faults_injected += 1
    figure.runs += 1
    everything = result.stdout + result.stderr
    figure.secrets_found += everything.count(WEBHOOK_TOKEN)
    lines = result.stderr_lines
    ok = (
        result.returncode == 2
        and lines == result.error_lines
        and len(lines) == 1
        and all(f in lines[0] for f in fragments)
        and len(lines[0]) < 300
        and "Traceback" not in everything
    )
    figure.runs_failed_clearly += int(ok)

    assert result.returncode == 2, result.describe()
    assert len(lines) == 1 and lines == result.error_lines, result.describe()
    for fragment in fragments:
        assert fragment in lines[0], result.describe()
    assert len(lines[0]) < 300, result.describe()
    assert "Traceback" not in everything
    assert WEBHOOK_TOKEN not in everything
    assert ok

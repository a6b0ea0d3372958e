"""`finance-pipeline demo` end to end in a subprocess: sandbox, real Dagster instance, lake;
its summary must be what `finance-pipeline status` prints, and a second run changes nothing."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline_tests.test_cli import CONTRACT

TICKERS = 60
SESSIONS = 4
pytestmark = pytest.mark.slow


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float):
    base = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    script = Path(sys.executable).with_name("finance-pipeline")
    return subprocess.run(
        [str(script), *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lake_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*.parquet"))
    }


def test_demo_runs_the_pipeline_and_its_summary_is_the_status(tmp_path):
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "FINANCE_PIPELINE_LAKE": str(tmp_path / "lake"),
    }
    args = ["demo", "--tickers", str(TICKERS), "--sessions", str(SESSIONS)]

    demo = run(args, env, tmp_path, timeout=900)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "Traceback" not in demo.stderr
    status = run(["status"], env, tmp_path, timeout=300)
    assert status.returncode == 0, status.stderr
    # The demo printed exactly what `status` reports afterwards.
    assert status.stdout.strip() in demo.stdout
    assert (tmp_path / "dagster_home" / "dagster.yaml").is_file()
    assert "make ui" in demo.stdout
    assert 'finance-pipeline query "select' in demo.stdout

    summary = json.loads(run(["status", "--json"], env, tmp_path, timeout=300).stdout)
    coverage = {c["dataset"]: c for c in summary["coverage"]}
    daily = coverage["daily_bars"]
    assert daily["sessions"] == SESSIONS
    assert daily["missing"] == []
    # The newest session's flat file is not published at the sandbox clock: grouped daily.
    assert daily["sources"] == {"flat_file_day_aggs": SESSIONS - 1, "grouped_daily_bars": 1}
    lake = Lake(env["FINANCE_PIPELINE_LAKE"])
    sessions = lake.stored_sessions("daily_bars")
    assert set(lake.read("daily_bars", sessions[-1])["source"].to_pylist()) == {
        "grouped_daily_bars"
    }
    assert set(lake.read("daily_bars", sessions[0])["source"].to_pylist()) == {"flat_file_day_aggs"}
    assert coverage["minute_bars"]["sources"] == {
        "flat_file_minute_aggs": SESSIONS - 1,
        "rest_fills": 1,
    }
    totals = summary["totals"]
    # One GET per published day and minute file; none for the newest session.
    assert totals["s3_gets"] == 2 * (SESSIONS - 1)
    assert 0 < totals["api_calls"] < totals["curated_old_path_calls"]
    assert totals["checks_passed"] > 0
    assert totals["checks_not_run"] == 0
    costs = {c["asset"]: c for c in summary["costs"]}
    assert costs["grouped_daily_bars"]["api_calls"] == SESSIONS  # one call per session
    assert costs["flat_file_day_aggs"]["api_calls"] == 0

    # Idempotent: a second run rewrites nothing and reports the same status.
    before = lake_digest(tmp_path / "lake")
    again = run(args, env, tmp_path, timeout=900)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert lake_digest(tmp_path / "lake") == before
    assert json.loads(run(["status", "--json"], env, tmp_path, timeout=300).stdout) == summary

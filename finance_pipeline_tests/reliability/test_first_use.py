"""Concurrent first use of a brand-new DAGSTER_HOME: three `finance-pipeline` processes started
together (two `status`, one `backfill --in-process` of one session) each create the SQLite
storages if they find none. Without the instance lock two of them stamped the schedule
database's alembic version twice, and from then on every command failed with "more than one
head". Repeated on fresh homes; afterwards each storage has exactly one version row and
`status` still works."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from finance_pipeline_tests.reliability.cli_runs import run_all
from finance_pipeline_tests.reliability.figures import REGISTRY

TRIALS = 3
DAY = "2025-01-30"


def version_rows(home: Path) -> dict[str, int]:
    """Database file -> rows of its alembic_version table, for every SQLite storage in `home`."""
    rows = {}
    for path in sorted(home.rglob("*.db")):
        with sqlite3.connect(path) as con:
            tables = {n for (n,) in con.execute("select name from sqlite_master")}
            if "alembic_version" in tables:
                (rows[str(path.relative_to(home))],) = con.execute(
                    "select count(*) from alembic_version"
                ).fetchone()
    return rows


@pytest.mark.parametrize("trial", range(TRIALS))
def test_three_processes_on_a_new_dagster_home_leave_it_usable(sb, tmp_path, trial, figure):
    figure.category = "concurrency"
    figure.scenario = f"3 CLI processes on a brand-new DAGSTER_HOME (trial {trial + 1})"
    home, lake = tmp_path / "dagster_home", tmp_path / "lake"
    home.mkdir()  # brand new: no dagster.yaml, no storage
    REGISTRY.add_path(home)
    env = {**sb.env(), "DAGSTER_HOME": str(home), "FINANCE_PIPELINE_LAKE": str(lake)}
    backfill = ["backfill", DAY, DAY, "--in-process", "--yes"]
    together = run_all(
        {"status 1": (["status"], env), "status 2": (["status"], env), "backfill": (backfill, env)},
        cwd=tmp_path,
    )
    after = run_all({"status": (["status", "--json"], env)}, cwd=tmp_path)["status"]
    for name, result in [*together.items(), ("status after", after)]:
        REGISTRY.add_text(f"first use, trial {trial + 1}, {name}", result.stdout + result.stderr)
    rows = version_rows(home)
    figure.faults_injected += 1
    figure.runs += len(together)
    held = all(r.returncode == 0 for r in together.values()) and after.returncode == 0
    held = held and bool(rows) and set(rows.values()) == {1}
    figure.runs_recovered += int(held)

    for result in together.values():
        assert result.returncode == 0, result.describe()
    assert rows and set(rows.values()) == {1}, rows
    assert after.returncode == 0, after.describe()
    assert "more than one head" not in after.stderr
    assert held

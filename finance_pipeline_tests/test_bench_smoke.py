"""CI smoke run of the benchmark suite: `python -m bench --smoke` in a subprocess.

Speed is not asserted here (it belongs in bench/); this checks that every figure is produced,
with its target and how it was measured, and the counts that are correctness, not speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import FIGURE_FIELDS, FIGURE_KEYS, SMOKE_SKIPPED_GROUPS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    output = tmp_path_factory.mktemp("bench-smoke")
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output-dir", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, (
        f"python -m bench --smoke failed ({completed.returncode}):\n{completed.stderr[-4000:]}"
    )
    results = json.loads((output / "results.json").read_text())
    return results, (output / "results.md").read_text()


@pytest.mark.timeout(200)
def test_every_figure_is_reported_with_target_and_method(smoke: tuple[dict, str]) -> None:
    results, markdown = smoke
    assert results["mode"] == "smoke"
    assert results["errors"] == {}
    figures = results["figures"]
    expected = [k for k in FIGURE_KEYS if k.split("_", 1)[0] not in SMOKE_SKIPPED_GROUPS]
    assert set(expected) <= set(figures), set(expected) - set(figures)
    for key in expected:
        figure = figures[key]
        missing = [name for name in FIGURE_FIELDS if name not in figure]
        assert not missing, f"{key} lacks {missing}"
        assert figure["how"], f"{key} does not say how it was measured"
        assert figure["value"] is not None, f"{key} has no value"
        if figure["target"] is not None:
            assert isinstance(figure["target_met"], bool), key
        assert f"`{key}`" in markdown, f"{key} is missing from results.md"


@pytest.mark.timeout(200)
def test_machine_is_noted(smoke: tuple[dict, str]) -> None:
    machine = smoke[0]["machine"]
    for field in ("platform", "cpu_count", "python", "load_average_start", "load_average_end"):
        assert machine.get(field) not in (None, ""), field
    assert len(machine["load_average_start"]) == 3


@pytest.mark.timeout(200)
def test_counts_taken_at_the_sandbox(smoke: tuple[dict, str]) -> None:
    results = smoke[0]
    figures, sizes = results["figures"], results["sizes"]
    grouped = figures["b1_grouped_daily_calls"]
    assert grouped["value"] == sizes["sessions"]  # one grouped call per session
    assert grouped["baseline"] == sizes["index_tickers"] * sizes["sessions"]
    assert grouped["details"]["paths_agree"] is True
    assert figures["b1_flat_file_calls"]["value"] == 0
    assert figures["b1_flat_file_calls"]["details"]["s3_gets_counted"] == sizes["sessions"]
    for key in ("b2_rate_limit_alone", "b2_rate_limit_parallel"):
        details = figures[key]["details"]
        assert details["status_429_counted"] == 0, key
        assert details["calls_counted"] == sizes["b2_sessions"], key
    b4 = figures["b4_dagster_vs_raw_loop"]["details"]
    assert b4["dagster"]["partitions_materialized"] == sizes["b4_sessions"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_daemon_backfill_group_stores_every_partition_once(tmp_path: Path) -> None:
    """B9 (left out of --smoke: it waits for a real dagster-daemon) at smoke sizes."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", "b9", "--output-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    figures = results["figures"]
    keys = [k for k in FIGURE_KEYS if k.startswith("b9_")]
    assert keys and set(keys) == set(figures), set(figures)
    for key in keys:
        assert figures[key]["value"] > 0, key
        assert figures[key]["conditions"] and all(figures[key]["conditions"].values()), key
    details = figures["b9_daemon_sessions_per_hour"]["details"]
    sessions = results["sizes"]["b9_sessions"]
    assert len(details["materializations_by_partition"]) == sessions
    assert set(details["materializations_by_partition"].values()) == {1}
    assert details["rest_calls_counted"] == 0
    assert details["status"] == "COMPLETED_SUCCESS"
    assert [run["status"] for run in details["runs"]] == ["SUCCESS"]  # 2 sessions: one run

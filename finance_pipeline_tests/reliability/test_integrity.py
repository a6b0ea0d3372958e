"""Integrity of the lake through the CLI, as a user runs it (issue 12, cases 1 and 2).

Case 1: the vendor republishes a day flat file with only its header and another with half its
rows; `backfill --force --in-process` refuses both (write-audit-publish), keeps them in
quarantine, and leaves every stored raw and curated file byte-identical; `accept` publishes one.
Case 2: five kinds of corruption at rest (truncated, zero-length, garbage, one flipped byte,
another session's file); `verify` names all five, `status` names the bad files instead of
failing, the curated layer refuses to build from a corrupt raw file, and both `verify --repair`
and a plain re-run of `backfill` make them byte-identical to a clean fetch.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from finance_pipeline.assets.curated import daily_bars
from finance_pipeline.calendar import sessions_between
from finance_pipeline.checks.quarantine_alerts import quarantine_alerts
from finance_pipeline.cli import cli
from finance_pipeline.lake import Lake
from finance_pipeline_tests.reliability.figures import REGISTRY
from finance_pipeline_tests.reliability.support import (
    damage,
    failure_text,
    materialize,
    part_file,
    resources,
    snapshot,
)

DAY = "day_aggs_v1"
RAW, CURATED = "flat_file_day_aggs", "daily_bars"
DECEMBER = ("2024-12-02", "2024-12-13")
SESSIONS = sessions_between(dt.date(2024, 12, 2), dt.date(2024, 12, 13))
HEADER_ONLY, HALF = SESSIONS[-3], SESSIONS[-1]


@pytest.fixture
def cli_env(sb, tmp_path, monkeypatch) -> Path:
    """The fault suite's sandbox, a fresh lake and Dagster home; returns the lake root."""
    lake, home = tmp_path / "lake", tmp_path / "dagster_home"
    home.mkdir()
    REGISTRY.add_path(lake)
    REGISTRY.add_path(home)
    monkeypatch.setenv("FINANCE_PIPELINE_LAKE", str(lake))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("FINANCE_PIPELINE_WATCHLIST", raising=False)
    return lake


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    REGISTRY.add_text(f"finance-pipeline {' '.join(args)}", result.output)
    return result


def rows(lake: Path, dataset: str, session: dt.date) -> int:
    return Lake(str(lake)).read(dataset, session).num_rows


def test_a_partial_republished_flat_file_never_replaces_good_raw_or_curated_data(
    sb, cli_env, figure
):
    figure.category, figure.scenario = "write-audit-publish", "header-only and half flat files"
    first = run("backfill", *DECEMBER, "--in-process", "--yes")
    assert first.exit_code == 0, first.output
    good = {day: (rows(cli_env, RAW, day), rows(cli_env, CURATED, day)) for day in SESSIONS}
    assert good[HEADER_ONLY][0] > 0 and good[HALF][0] > 1
    before = snapshot(cli_env)

    sb.faults.keep_rows(DAY, HEADER_ONLY, 0.0)
    sb.faults.keep_rows(DAY, HALF, 0.5)
    figure.faults_injected += 2
    again = run("backfill", *DECEMBER, "--force", "--in-process", "--yes")
    figure.runs += 1
    refused = "refused" in again.output and str(HEADER_ONLY) in again.output
    figure.runs_failed_clearly += int(again.exit_code == 1 and refused)

    found = damage(cli_env, before, snapshot(cli_env))
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)
    assert again.exit_code == 1, again.output
    assert (found.lost, found.corrupted) == ([], []), again.output
    for day in (HEADER_ONLY, HALF):
        assert (rows(cli_env, RAW, day), rows(cli_env, CURATED, day)) == good[day]
    assert "held back" in again.output  # the curated run did not consume the refused sessions

    status = run("status", "--json")
    assert status.exit_code == 0, status.output
    quarantined = json.loads(status.output)["quarantined"]
    assert {(q["dataset"], q["session"]) for q in quarantined} == {
        (RAW, HEADER_ONLY.isoformat()),
        (RAW, HALF.isoformat()),
    }
    assert {q["rows"] for q in quarantined} == {0, good[HALF][0] // 2}
    assert "QUARANTINED" in run("status").output
    tick = quarantine_alerts.evaluate_tick(dg.build_sensor_context())
    assert tick.skip_message == "2 quarantined reported"
    again_tick = quarantine_alerts.evaluate_tick(dg.build_sensor_context(cursor=tick.cursor))
    assert again_tick.skip_message == "0 quarantined reported"  # each one alerted once

    accepted = run("accept", RAW, HALF.isoformat())
    assert accepted.exit_code == 0, accepted.output
    assert rows(cli_env, RAW, HALF) == good[HALF][0] // 2  # the user's explicit choice
    assert len(json.loads(run("status", "--json").output)["quarantined"]) == 1


def _corrupt(lake: Path) -> dict[str, dt.date]:
    """Five kinds of corruption on five raw files; kind -> session."""
    kinds = dict(
        zip(
            ("truncated", "zero-length", "garbage", "flipped", "other session"),
            SESSIONS[:5],
            strict=True,
        )
    )
    path = {kind: part_file(lake, RAW, day) for kind, day in kinds.items()}
    body = path["truncated"].read_bytes()
    path["truncated"].write_bytes(body[: len(body) // 2])
    path["zero-length"].write_bytes(b"")
    path["garbage"].write_bytes(bytes((i * 131 + 7) % 256 for i in range(4096)))
    flipped = bytearray(path["flipped"].read_bytes())
    flipped[len(flipped) // 3] ^= 0x40
    path["flipped"].write_bytes(bytes(flipped))
    path["other session"].write_bytes(part_file(lake, RAW, SESSIONS[6]).read_bytes())
    return kinds


def test_corruption_at_rest_is_named_refused_and_repaired(
    sb, cli_env, rel_instance, limiter_dir, figure
):
    figure.category, figure.scenario = "verifiable lake", "5 kinds of corruption at rest"
    assert run("backfill", *DECEMBER, "--in-process", "--yes").exit_code == 0
    clean = snapshot(cli_env)

    kinds = _corrupt(cli_env)
    figure.faults_injected += len(kinds)
    verified = run("verify")
    figure.runs += 1
    bad_lines = [line for line in verified.output.splitlines() if line.startswith("bad: ")]
    named = {kind for kind, day in kinds.items() if any(str(day) in line for line in bad_lines)}
    figure.runs_failed_clearly += int(verified.exit_code == 1 and named == set(kinds))
    assert verified.exit_code == 1, verified.output
    assert named == set(kinds), verified.output
    assert len(bad_lines) == 5, verified.output
    assert "zero-length file" in verified.output
    assert "not a readable Parquet file" in verified.output
    assert f"holds rows of session {SESSIONS[6]}" in verified.output

    status = run("status")
    assert status.exit_code == 0, status.output
    assert "unexpected" not in status.output
    assert str(part_file(cli_env, RAW, kinds["zero-length"])) in status.output

    # The curated layer refuses to build from a corrupt raw file, naming it; its file stays.
    res = resources(sb, cli_env, limiter_dir=limiter_dir)
    curated_before = part_file(cli_env, CURATED, kinds["flipped"]).read_bytes()
    result = materialize([daily_bars], res, rel_instance, session=kinds["flipped"])
    assert not result.success
    assert str(part_file(cli_env, RAW, kinds["flipped"])) in failure_text(result)
    assert part_file(cli_env, CURATED, kinds["flipped"]).read_bytes() == curated_before

    repaired = run("verify", "--repair")
    figure.runs += 1
    after_repair = damage(cli_env, clean, snapshot(cli_env))
    figure.runs_recovered += int(repaired.exit_code == 0 and snapshot(cli_env) == clean)
    assert repaired.exit_code == 0, repaired.output
    assert snapshot(cli_env) == clean, repaired.output

    _corrupt(cli_env)
    figure.faults_injected += len(kinds)
    rerun = run("backfill", *DECEMBER, "--in-process", "--yes")
    figure.runs += 1
    after_rerun = damage(cli_env, clean, snapshot(cli_env))
    figure.runs_recovered += int(rerun.exit_code == 0 and snapshot(cli_env) == clean)
    figure.partitions_checked += after_repair.checked + after_rerun.checked
    figure.partitions_lost += len(after_repair.lost) + len(after_rerun.lost)
    figure.partitions_corrupted += len(after_repair.corrupted) + len(after_rerun.corrupted)
    assert rerun.exit_code == 0, rerun.output
    assert "nothing to do" not in rerun.output
    assert snapshot(cli_env) == clean, rerun.output
    assert run("verify").exit_code == 0

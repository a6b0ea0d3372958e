"""Bad vendor data never becomes a stored bad partition.

Truncated gzip, a missing header line, an extra or a missing column, a file not yet published, a
wrong-day file and an empty whole-market result each end in a run failure that names the file
or session and the reason, with every stored partition byte-identical afterwards. A restated
file is valid data: the raw partition takes it, the reconciliation check fails at ERROR and the
curated partition keeps its previous bytes. A failing range run stores nothing; once the fault
is gone, the rerun stores every session.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import dagster as dg
import pytest

from finance_pipeline.assets import flat_file_day_aggs, grouped_daily_bars
from finance_pipeline.assets.curated import daily_bars
from finance_pipeline.calendar import sessions_between
from finance_pipeline.clients.polygon_flat_files import HEADER, FlatFilesClient
from finance_pipeline_tests.checks.support import checks_for
from finance_pipeline_tests.reliability.figures import REGISTRY
from finance_pipeline_tests.reliability.support import (
    damage,
    failure_text,
    materialize,
    materialized,
    part_file,
    resources,
    snapshot,
)

DAY = "day_aggs_v1"
JANUARY = (dt.date(2025, 1, 2), dt.date(2025, 1, 31))
EMPTY_GROUPED = dt.date(2025, 1, 27)
RESTATED = dt.date(2025, 1, 28)
HEADER_LINE = ",".join(HEADER)
DATA_ROW = "AAPL,1200.5,187.1,188.2,189.0,186.4,1736139600000000000,42"


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-files-lake")
    REGISTRY.add_path(root)
    return root


@pytest.fixture(scope="module")
def stored(rel_sandbox, rel_instance, lake_root, limiter_dir, tmp_path_factory):
    """Good partitions from earlier runs: January's day files (one range run), grouped daily
    and the curated daily bars of two sessions (checks included, all green)."""
    mp = pytest.MonkeyPatch()
    for name, value in rel_sandbox.env().items():
        mp.setenv(name, value)
    try:
        res = resources(rel_sandbox, lake_root, limiter_dir=limiter_dir)
        first = materialize([flat_file_day_aggs], res, rel_instance, sessions=JANUARY)
        assert first.success, failure_text(first)
        for session in (EMPTY_GROUPED, RESTATED):
            assets = [grouped_daily_bars, flat_file_day_aggs, daily_bars]
            result = materialize([*assets, *checks_for(assets)], res, rel_instance, session=session)
            assert result.success, failure_text(result)
    finally:
        mp.undo()
    return res


CASES = {
    "truncated gzip": (
        dt.date(2025, 1, 2),
        lambda f, day: f.truncate(DAY, day),
        ["2025-01-02.csv.gz", "truncated"],
    ),
    "missing header line": (
        dt.date(2025, 1, 6),
        # The file starts with a data row: no header at all.
        lambda f, day: f.bad_header(DAY, day, header=DATA_ROW),
        ["2025-01-06.csv.gz", "header", "expected"],
    ),
    "extra column": (
        dt.date(2025, 1, 7),
        lambda f, day: f.bad_header(DAY, day, header=HEADER_LINE + ",vwap"),
        ["2025-01-07.csv.gz", "new ['vwap']"],
    ),
    "missing column": (
        dt.date(2025, 1, 8),
        lambda f, day: f.bad_header(DAY, day, header=HEADER_LINE.removesuffix(",transactions")),
        ["2025-01-08.csv.gz", "missing ['transactions']"],
    ),
    "file not yet published": (
        dt.date(2025, 1, 10),
        lambda f, day: f.late(DAY, day, dt.timedelta(days=60)),
        ["2025-01-10.csv.gz", "not published"],
    ),
    "wrong-day file": (
        dt.date(2025, 1, 13),
        lambda f, day: f.wrong_day(DAY, day),
        ["2025-01-13.csv.gz", "wrong-day file"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_flat_file_fails_the_run_and_keeps_the_stored_partition(
    case, sb, stored, rel_instance, lake_root, figure
):
    session, inject, fragments = CASES[case]
    figure.category, figure.scenario = "bad flat file", f"{case} ({session})"
    assert part_file(lake_root, "flat_file_day_aggs", session).is_file()
    before = snapshot(lake_root)

    inject(sb.faults, session)
    figure.faults_injected += 1
    result = materialize([flat_file_day_aggs], stored, rel_instance, session=session)
    figure.runs += 1
    text = failure_text(result)
    clear = not result.success and all(fragment in text for fragment in fragments)
    figure.runs_failed_clearly += int(clear)

    found = damage(lake_root, before, snapshot(lake_root))
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)
    assert not result.success
    for fragment in fragments:
        assert fragment in text, text
    assert "flat_file_day_aggs" not in materialized(result)
    assert (found.lost, found.corrupted) == ([], [])


def test_an_empty_whole_market_result_fails_and_keeps_the_stored_partition(
    sb, stored, rel_instance, lake_root, figure
):
    figure.category, figure.scenario = "bad REST data", f"empty grouped daily ({EMPTY_GROUPED})"
    before = snapshot(lake_root)
    sb.faults.empty_grouped_daily(EMPTY_GROUPED)
    figure.faults_injected += 1
    result = materialize([grouped_daily_bars], stored, rel_instance, session=EMPTY_GROUPED)
    figure.runs += 1
    text = failure_text(result)
    figure.runs_failed_clearly += int(
        not result.success and "empty whole-market result" in text and str(EMPTY_GROUPED) in text
    )

    found = damage(lake_root, before, snapshot(lake_root))
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)
    assert not result.success
    assert "empty whole-market result" in text and str(EMPTY_GROUPED) in text, text
    assert (found.lost, found.corrupted) == ([], [])


def test_a_restated_file_fails_the_reconciliation_and_keeps_the_curated_partition(
    sb, stored, rel_instance, lake_root, figure
):
    figure.category, figure.scenario = "bad flat file", f"restated file ({RESTATED})"
    raw = part_file(lake_root, "flat_file_day_aggs", RESTATED)
    before = snapshot(lake_root)
    sb.faults.restate(DAY, RESTATED, tickers="KIMpL", price_factor=1.05)
    figure.faults_injected += 1

    assets = [flat_file_day_aggs, daily_bars]
    result = materialize([*assets, *checks_for(assets)], stored, rel_instance, session=RESTATED)
    figure.runs += 1
    failed_checks = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    figure.runs_failed_clearly += int(
        not result.success
        and any(
            "KIMpL" in str(e.metadata.get("offenders", dg.MetadataValue.text("")).value)
            for e in failed_checks
        )
    )
    # The raw layer keeps what the vendor now says (with its new ETag); nothing else may move.
    allowed = [str(raw.relative_to(lake_root))]
    found = damage(lake_root, before, snapshot(lake_root), may_change=allowed)
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)

    assert not result.success
    assert {e.check_name for e in failed_checks} >= {"matches_grouped_daily"}
    assert "daily_bars" not in materialized(result)
    assert (found.lost, found.corrupted) == ([], [])


def test_a_failing_range_run_stores_nothing_and_its_rerun_stores_everything(
    sb, stored, rel_instance, lake_root, figure
):
    first, last = dt.date(2024, 11, 4), dt.date(2024, 11, 8)
    bad = dt.date(2024, 11, 6)
    days = sessions_between(first, last)
    figure.category, figure.scenario = "bad flat file", f"truncated file inside a range run ({bad})"
    before = snapshot(lake_root)
    sb.faults.truncate(DAY, bad)
    figure.faults_injected += 1

    failed = materialize([flat_file_day_aggs], stored, rel_instance, sessions=(first, last))
    figure.runs += 1
    text = failure_text(failed)
    figure.runs_failed_clearly += int(not failed.success and f"{bad}.csv.gz" in text)
    after_failure = snapshot(lake_root)
    found = damage(lake_root, before, after_failure)
    present = [d for d in days if part_file(lake_root, "flat_file_day_aggs", d).exists()]

    sb.faults.clear()
    rerun = materialize([flat_file_day_aggs], stored, rel_instance, sessions=(first, last))
    figure.runs_recovered += int(rerun.success)
    figure.partitions_checked += found.checked
    figure.partitions_lost += len(found.lost)
    figure.partitions_corrupted += len(found.corrupted)

    assert not failed.success and "truncated" in text, text
    assert present == []  # not one session of the failed range was stored
    assert (found.lost, found.corrupted) == ([], [])
    assert rerun.success, failure_text(rerun)
    assert all(part_file(lake_root, "flat_file_day_aggs", d).is_file() for d in days)


def test_a_flat_file_named_for_a_non_session_is_skipped_by_name(sb, caplog, figure):
    """The sensor and the schedule learn partition keys from S3 object names (list_sessions):
    an object named for a Saturday must not become a partition key."""
    stray = dt.date(2025, 1, 4)
    key = f"us_stocks_sip/{DAY}/2025/01/{stray}.csv.gz"
    figure.category, figure.scenario = "bad flat file", f"an object named for a Saturday ({stray})"
    s3 = sb.s3_client()
    s3.put_object(Bucket=sb.bucket, Key=key, Body=b"")
    figure.faults_injected += 1
    try:
        with caplog.at_level(logging.WARNING, logger="finance_pipeline.clients.polygon_flat_files"):
            listed = FlatFilesClient(s3, bucket=sb.bucket).list_sessions(DAY, *JANUARY)
    finally:
        s3.delete_object(Bucket=sb.bucket, Key=key)
    figure.runs += 1
    warned = [r.getMessage() for r in caplog.records if key in r.getMessage()]
    named = len(warned) == 1 and "not an NYSE trading session" in warned[0]
    handled = stray not in listed and named
    figure.runs_recovered += int(handled)

    assert stray not in listed
    assert list(listed) == sessions_between(*JANUARY)
    assert named, warned

"""Secrets stay out of everything a person or a log can see.

Runs that succeed and runs that fail on bad credentials, both as `finance-pipeline backfill`
processes (their own DAGSTER_HOME) and in this process (the suite's instance); afterwards the
API key, the S3 secret and the wrong key that was tried are searched in: the processes' stdout
and stderr, every file of both instance directories (SQLite event logs, compute logs), every
event record and run as Dagster serializes them (metadata, run config, tags, errors), the
exception text of every failed step, and every log record this process saw.
"""

from __future__ import annotations

import datetime as dt
import traceback
from pathlib import Path

import boto3
import dagster as dg
import pytest
from botocore.config import Config
from dagster_shared.serdes import serialize_value

from finance_pipeline.assets import flat_file_day_aggs, grouped_daily_bars
from finance_pipeline.clients import FlatFileAccessDenied, FlatFilesClient
from finance_pipeline_tests.reliability.cli_runs import CliResult, run_all
from finance_pipeline_tests.reliability.figures import REGISTRY, scan_paths, scan_text
from finance_pipeline_tests.reliability.support import failure_text, materialize, resources

WRONG_KEY = "sbx_wrong_0123456789abcdef0123456789abcd"
WRONG_KEY_ID = "SBXAUNKNOWNKEYID0000"
GOOD, BAD_POLYGON, BAD_S3 = "good credentials", "wrong Polygon key", "wrong S3 key id"
SESSIONS = {GOOD: "2025-01-23", BAD_POLYGON: "2025-01-24", BAD_S3: "2025-01-27"}


def stored_text(instance: dg.DagsterInstance) -> str:
    """Every run (config, tags) and every event record of every run, serialized."""
    parts = []
    for run in instance.get_runs():
        parts.append(serialize_value(run))
        records = instance.get_records_for_run(run.run_id, limit=1_000_000).records
        parts += [serialize_value(record.event_log_entry) for record in records]
    return "\n".join(parts)


def instance_failures(instance: dg.DagsterInstance) -> str:
    """The error chain of every failed step on the instance (what the UI shows)."""
    parts = []
    for run in instance.get_runs():
        for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            error = event.dagster_event.step_failure_data.error
            while error is not None:
                parts.append(f"{error.cls_name}: {error.message}\n{''.join(error.stack)}")
                error = error.cause
    return "\n".join(parts)


@pytest.fixture(scope="module")
def cli(rel_sandbox, tmp_path_factory) -> dict:
    """Three `finance-pipeline backfill --in-process` processes at once on one instance."""
    REGISTRY.add_secret("wrong POLYGON_API_KEY tried", WRONG_KEY)
    root = tmp_path_factory.mktemp("secrets-cli")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dg.DagsterInstance.from_config(str(home)).dispose()  # storage created once, before the race
    REGISTRY.add_path(home)
    REGISTRY.add_path(root / "lake")
    base = {
        **rel_sandbox.env(),
        "DAGSTER_HOME": str(home),
        "FINANCE_PIPELINE_LAKE": str(root / "lake"),
    }
    envs = {
        GOOD: base,
        # No flat-file key: the router sends the session to grouped daily (the REST key).
        BAD_POLYGON: {**base, "POLYGON_API_KEY": WRONG_KEY, "FLATFILES_ACCESS_KEY_ID": ""},
        BAD_S3: {**base, "FLATFILES_ACCESS_KEY_ID": WRONG_KEY_ID},
    }
    cases = {
        name: (["backfill", day, day, "--in-process", "--yes"], envs[name])
        for name, day in SESSIONS.items()
    }
    results = run_all(cases, cwd=root)
    for name, result in results.items():
        REGISTRY.add_text(f"CLI backfill ({name}): stdout", result.stdout)
        REGISTRY.add_text(f"CLI backfill ({name}): stderr", result.stderr)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        text, failures = stored_text(instance), instance_failures(instance)
    return {"results": results, "home": home, "stored": text, "failures": failures}


@pytest.fixture(scope="module")
def in_process(rel_sandbox, rel_instance, limiter_dir, tmp_path_factory) -> dict:
    """A green run and a run failing on a wrong key, in this process, on the suite's instance."""
    lake = tmp_path_factory.mktemp("secrets-lake")
    REGISTRY.add_path(lake)
    mp = pytest.MonkeyPatch()
    errors = []
    try:
        for name, value in rel_sandbox.env().items():
            mp.setenv(name, value)
        res = resources(rel_sandbox, lake, limiter_dir=limiter_dir)
        day = dt.date(2025, 1, 29)
        good = materialize([grouped_daily_bars, flat_file_day_aggs], res, rel_instance, session=day)
        mp.setenv("POLYGON_API_KEY", WRONG_KEY)
        bad = materialize([grouped_daily_bars], res, rel_instance, session=day)
        for result in (good, bad):
            errors.append(failure_text(result))
        with pytest.raises(Exception) as raised:
            dg.materialize(
                [grouped_daily_bars],
                resources=res,
                instance=rel_instance,
                partition_key=day.isoformat(),
            )
        errors.append("".join(traceback.format_exception(raised.value)))
    finally:
        mp.undo()
    return {"good": good, "bad": bad, "errors": "\n".join(errors)}


def test_the_runs_did_what_the_scan_assumes(cli, in_process, figure):
    """The scans below must reach real failures: the runs ran, failed where meant to, and the
    failure reason is in what gets scanned."""
    figure.category, figure.scenario = "secrets", "runs with good and bad credentials"
    results: dict[str, CliResult] = cli["results"]
    figure.runs += len(results) + 2
    figure.faults_injected += 2 + 1  # two bad CLI credentials, one bad key in process

    assert results[GOOD].returncode == 0, results[GOOD].describe()
    assert results[BAD_POLYGON].returncode != 0, results[BAD_POLYGON].describe()
    assert results[BAD_S3].returncode != 0, results[BAD_S3].describe()
    assert "Unknown API Key" in cli["stored"] and "InvalidAccessKeyId" in cli["stored"]
    assert "Unknown API Key" in cli["failures"]
    assert in_process["good"].success, failure_text(in_process["good"])
    assert not in_process["bad"].success
    assert "Unknown API Key" in in_process["errors"]


def test_no_secret_anywhere_after_good_and_bad_runs(
    cli, in_process, rel_instance, captured_logs, figure
):
    figure.category, figure.scenario = "secrets", "API key, S3 secret, wrong key: full scan"
    secrets = dict(REGISTRY.secrets)
    assert len(secrets) >= 3  # the sandbox's key and secret, the wrong key
    # The scanner itself: a planted secret is found.
    planted = next(iter(secrets))
    assert scan_text("control", f"x{planted}y", secrets)

    places: list[tuple[str, str]] = []
    for name, result in cli["results"].items():
        places += [(f"CLI {name} stdout", result.stdout), (f"CLI {name} stderr", result.stderr)]
    places += [
        ("CLI instance: runs and event records", cli["stored"]),
        ("CLI instance: step failures", cli["failures"]),
        ("suite instance: runs and event records", stored_text(rel_instance)),
        ("suite instance: step failures", instance_failures(rel_instance)),
        ("in-process exception text", in_process["errors"]),
        ("log records so far", "\n".join(captured_logs.lines)),
    ]
    findings = [f for where, text in places for f in scan_text(where, text, secrets)]
    file_findings, scanned = scan_paths([cli["home"], Path(rel_instance.root_directory)], secrets)
    findings += file_findings
    figure.scanned_bytes = scanned + sum(len(text) for _, text in places)
    figure.secrets_found = sum(f.count for f in findings)
    figure.note(
        f"{len(secrets)} secret values searched in {figure.scanned_bytes:,} bytes "
        "(instance files incl. compute logs, event records, runs, CLI output, errors, logs)"
    )

    compute_logs = [p for p in Path(cli["home"]).rglob("*") if p.suffix in (".err", ".out")]
    assert compute_logs, "no compute logs were captured: the scan would miss them"
    assert findings == []


@pytest.mark.parametrize(
    ("name", "fragment"), [(BAD_POLYGON, "POLYGON_API_KEY"), (BAD_S3, "FLATFILES_ACCESS_KEY_ID")]
)
def test_wrong_credentials_on_the_cli_say_which_in_one_line(cli, name, fragment, figure):
    figure.category, figure.scenario = "bad input", f"CLI backfill: {name}"
    result: CliResult = cli["results"][name]
    figure.runs += 1
    lines = result.error_lines
    ok = (
        result.returncode != 0
        and len(lines) == 1
        and fragment in lines[0]
        and "Traceback" not in result.stdout + result.stderr
    )
    figure.runs_failed_clearly += int(ok)
    assert "DagsterExecutionStepExecutionError" not in result.stdout, result.describe()
    assert ok, result.describe()


def test_a_wrong_s3_secret_is_refused_without_leaking_it(sb, figure):
    figure.category, figure.scenario = "secrets", "wrong S3 secret (sandbox fidelity)"
    wrong = "sbxs_wrong_secret_0123456789abcdef0123"
    REGISTRY.add_secret("wrong FLATFILES_SECRET_ACCESS_KEY tried", wrong)
    s3 = boto3.client(
        "s3",
        endpoint_url=sb.s3_endpoint_url,
        aws_access_key_id=sb.s3_access_key_id,
        aws_secret_access_key=wrong,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )
    client = FlatFilesClient(s3, bucket=sb.bucket, secrets=[wrong])
    figure.faults_injected += 1
    figure.runs += 1
    with pytest.raises(FlatFileAccessDenied) as raised:
        client.download("day_aggs_v1", dt.date(2025, 1, 30))
    figure.runs_failed_clearly += 1
    figure.secrets_found += len(scan_text("error", str(raised.value), REGISTRY.secrets))
    assert wrong not in str(raised.value)

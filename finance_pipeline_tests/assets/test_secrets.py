"""Failed runs keep the API key and the S3 secret out of everything Dagster stores."""

import datetime as dt
import traceback
from pathlib import Path

import dagster as dg
import pytest
from dagster_shared.serdes import serialize_value

from finance_pipeline.assets import flat_file_day_aggs, grouped_daily_bars
from finance_pipeline.resources import resources_from_env

SESSION = dt.date(2025, 1, 15)
WRONG_KEY = "sbx_wrongkey_0123456789abcdef0123456789ab"


def stored_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """Every event record and the run itself (config, tags) as Dagster serializes them."""
    records = instance.get_records_for_run(run_id, limit=100_000).records
    parts = [serialize_value(record.event_log_entry) for record in records]
    parts.append(serialize_value(instance.get_run_by_id(run_id)))
    return "\n".join(parts)


def files_text(root: Path) -> bytes:
    """The raw bytes of every file under the instance directory (event DB, compute logs)."""
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def run_and_capture(assets, instance) -> tuple[str, str]:
    """Run with the environment's resources; returns (run id, the raised error's text)."""
    with pytest.raises(Exception) as raised:
        dg.materialize(
            assets,
            resources=resources_from_env(),
            instance=instance,
            partition_key=SESSION.isoformat(),
        )
    error = "".join(traceback.format_exception(raised.value))
    run = instance.get_runs(limit=1)[0]
    assert run.status == dg.DagsterRunStatus.FAILURE
    return run.run_id, error


@pytest.fixture
def environment(sandbox, tmp_path, monkeypatch):
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FINANCE_PIPELINE_LAKE", str(tmp_path / "lake"))
    return sandbox.env()


@pytest.mark.parametrize("broken", ["polygon key", "s3 key id"])
def test_failed_runs_store_no_secret(environment, monkeypatch, tmp_path, caplog, broken):
    secrets = [environment["FLATFILES_SECRET_ACCESS_KEY"]]
    if broken == "polygon key":
        monkeypatch.setenv("POLYGON_API_KEY", WRONG_KEY)
        secrets.append(WRONG_KEY)
        assets, expected = [grouped_daily_bars], "401"
    else:
        monkeypatch.setenv("FLATFILES_ACCESS_KEY_ID", "SBXAUNKNOWNKEYID0000")
        secrets.append(environment["POLYGON_API_KEY"])
        assets, expected = [flat_file_day_aggs], "InvalidAccessKeyId"

    home = tmp_path / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        run_id, error = run_and_capture(assets, instance)
        text = stored_text(instance, run_id)
        raw = files_text(home)

    assert expected in text and expected in error  # the failure is recorded and says why
    assert run_id.encode() in raw  # the scan does reach the stored event log
    for secret in secrets:
        assert secret not in text
        assert secret.encode() not in raw
        assert secret not in error
        assert secret not in caplog.text

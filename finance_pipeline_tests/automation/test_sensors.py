"""The flat-file sensor against the sandbox's S3, and the curated automation sensor."""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg
import pytest

from finance_pipeline.automation import SENSORS, curated_automation_sensor, flat_file_sensor
from finance_pipeline.automation.sensors import FlatFileCursor, build_flat_file_sensor
from finance_pipeline.sandbox import Sandbox, object_key
from finance_pipeline_tests.assets.support import flat_files_resource
from finance_pipeline_tests.automation.conftest import NY

WINDOW = [
    dt.date(2025, 1, 6),
    dt.date(2025, 1, 7),
    dt.date(2025, 1, 8),
    dt.date(2025, 1, 10),
    dt.date(2025, 1, 13),
]
ASSETS = {"day_aggs_v1": "flat_file_day_aggs", "minute_aggs_v1": "flat_file_minute_aggs"}


def sensor_for(sb: Sandbox) -> dg.SensorDefinition:
    return build_flat_file_sensor(name="flat_file_sensor", clock=lambda: sb.now, window_sessions=5)


def tick(sensor, sb, instance, repository_def, cursor=None):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"flat_files": flat_files_resource(sb)},
        repository_def=repository_def,
    ) as ctx:
        return sensor.evaluate_tick(ctx)


def etag(sb: Sandbox, dataset: str, session: dt.date) -> str:
    head = sb.s3_client().head_object(Bucket=sb.bucket, Key=object_key(dataset, session))
    return head["ETag"].strip('"')


def requested(result) -> dict[tuple[str, str], dg.RunRequest]:
    return {
        (r.asset_selection[0].to_user_string(), r.partition_key): r for r in result.run_requests
    }


def test_new_files_then_nothing_new_then_the_next_session(paid_sandbox, repository_def) -> None:
    sb = paid_sandbox
    sensor = sensor_for(sb)
    with dg.DagsterInstance.ephemeral() as instance:
        sb.reset_counters()
        first = tick(sensor, sb, instance, repository_def)
        published = WINDOW[:-1]  # 2025-01-13's files are due at 11:00
        expected = {(a, d.isoformat()) for a in ASSETS.values() for d in published}
        assert set(requested(first)) == expected
        for (asset, key), request in requested(first).items():
            dataset = next(ds for ds, name in ASSETS.items() if name == asset)
            tag = etag(sb, dataset, dt.date.fromisoformat(key))
            assert request.run_key == f"{asset}:{key}:{tag}"
            assert request.tags["finance_pipeline/restated"] == "false"
        # One LIST per dataset for the window's one month, and not a single download.
        operations = sb.counters.s3_operations
        assert operations["ListObjectsV2"] == 2
        assert operations["GetObject"] == 0

        second = tick(sensor, sb, instance, repository_def, cursor=first.cursor)
        assert not second.run_requests
        assert "no new or restated flat files" in second.skip_message
        assert FlatFileCursor.parse(second.cursor).etags == FlatFileCursor.parse(first.cursor).etags

        sb.set_now(dt.datetime(2025, 1, 14, 11, 5, tzinfo=NY))
        third = tick(sensor, sb, instance, repository_def, cursor=second.cursor)
        assert set(requested(third)) == {(a, "2025-01-13") for a in ASSETS.values()}


def test_a_restated_file_gets_a_new_run_key(paid_sandbox, repository_def) -> None:
    sb = paid_sandbox
    sensor = sensor_for(sb)
    session = dt.date(2025, 1, 8)
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(sensor, sb, instance, repository_def)
        old_key = requested(first)[("flat_file_day_aggs", session.isoformat())].run_key
        before = etag(sb, "day_aggs_v1", session)
        sb.faults.restate("day_aggs_v1", session, tickers=None, price_factor=1.01)
        after = etag(sb, "day_aggs_v1", session)
        assert after != before
        result = tick(sensor, sb, instance, repository_def, cursor=first.cursor)
        (request,) = result.run_requests
        assert request.asset_selection == [dg.AssetKey("flat_file_day_aggs")]
        assert request.partition_key == session.isoformat()
        assert request.run_key == f"flat_file_day_aggs:{session.isoformat()}:{after}"
        assert request.run_key != old_key
        assert request.tags["finance_pipeline/restated"] == "true"


def test_files_published_in_the_same_second_are_all_seen(paid_sandbox, repository_def) -> None:
    sb = paid_sandbox
    sensor = sensor_for(sb)
    early = dt.datetime(2025, 1, 8, 10, tzinfo=NY)  # day files out up to 2025-01-06
    late = dt.datetime(2025, 1, 11, 12, tzinfo=NY)  # ... and now 01-07, 01-08 and 01-10 too
    fresh = [dt.date(2025, 1, 7), dt.date(2025, 1, 8), dt.date(2025, 1, 10)]
    client = sb.s3_client()

    def modified_seconds() -> set[dt.datetime]:
        keys = [object_key("day_aggs_v1", d) for d in fresh]
        heads = [client.head_object(Bucket=sb.bucket, Key=k) for k in keys]
        return {h["LastModified"].replace(microsecond=0) for h in heads}

    with dg.DagsterInstance.ephemeral() as instance:
        sb.set_now(early)
        before = tick(sensor, sb, instance, repository_def)
        seen = FlatFileCursor.parse(before.cursor).etags["day_aggs_v1"]
        assert not set(seen) & {d.isoformat() for d in fresh}
        # Publish until at least two of the new files share their LastModified second
        # (moving the clock back unpublishes them).
        deadline = time.monotonic() + 60
        while True:
            sb.set_now(late)
            if len(modified_seconds()) < len(fresh):
                break
            assert time.monotonic() < deadline, "never published two files in one second"
            sb.set_now(early)
        result = tick(sensor, sb, instance, repository_def, cursor=before.cursor)
        day_runs = {k for a, k in requested(result) if a == "flat_file_day_aggs"}
        assert day_runs == {d.isoformat() for d in fresh}


def test_a_file_already_in_the_lake_is_not_loaded_again(paid_sandbox, repository_def) -> None:
    sb = paid_sandbox
    sensor = sensor_for(sb)
    session = dt.date(2025, 1, 10)
    with dg.DagsterInstance.ephemeral() as instance:
        # What a backfill leaves behind: a materialization recording the file's ETag.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="flat_file_day_aggs",
                partition=session.isoformat(),
                metadata={
                    "source_etags": dg.MetadataValue.json(
                        {session.isoformat(): etag(sb, "day_aggs_v1", session)}
                    )
                },
            )
        )
        result = tick(sensor, sb, instance, repository_def)
        keys = set(requested(result))
        assert ("flat_file_day_aggs", session.isoformat()) not in keys
        assert ("flat_file_minute_aggs", session.isoformat()) in keys
        assert ("flat_file_day_aggs", "2025-01-08") in keys
        # ... but it is in the cursor: a later restatement is still noticed.
        assert session.isoformat() in FlatFileCursor.parse(result.cursor).etags["day_aggs_v1"]


def test_an_unreadable_cursor_starts_over(paid_sandbox, repository_def) -> None:
    sb = paid_sandbox
    with dg.DagsterInstance.ephemeral() as instance:
        result = tick(sensor_for(sb), sb, instance, repository_def, cursor="{not json")
        assert len(result.run_requests) == 8


def test_a_plan_without_flat_files_skips(paid_sandbox, repository_def, monkeypatch) -> None:
    monkeypatch.setenv("POLYGON_PLAN", "free")
    monkeypatch.delenv("FLATFILES_ACCESS_KEY_ID")
    with dg.DagsterInstance.ephemeral() as instance:
        result = tick(sensor_for(paid_sandbox), paid_sandbox, instance, repository_def)
    assert not result.run_requests
    assert "no flat files" in result.skip_message


def test_sensor_definitions(monkeypatch) -> None:
    assert {s.name for s in SENSORS} == {"flat_file_sensor", "curated_automation_sensor"}
    for sensor in SENSORS:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert isinstance(curated_automation_sensor, dg.AutomationConditionSensorDefinition)
    assert flat_file_sensor.minimum_interval_seconds == 300
    monkeypatch.setenv("FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL", "17")
    assert build_flat_file_sensor().minimum_interval_seconds == 17


@pytest.mark.parametrize("raw", [None, "", "[]", '{"version": 99, "etags": {}}'])
def test_cursor_parsing_tolerates_garbage(raw) -> None:
    assert FlatFileCursor.parse(raw).etags == {}
    cursor = FlatFileCursor({"day_aggs_v1": {"2025-01-10": "abc"}})
    assert FlatFileCursor.parse(cursor.to_json()) == cursor


def test_every_automated_asset_is_evaluated_by_the_running_sensor() -> None:
    from finance_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    automated = {key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert {dg.AssetKey("daily_bars"), dg.AssetKey("minute_bars")} <= automated
    target = curated_automation_sensor.asset_selection.resolve(graph)
    # None left to Dagster's implicit default sensor, which starts STOPPED in open source.
    assert automated <= target
    assert curated_automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING

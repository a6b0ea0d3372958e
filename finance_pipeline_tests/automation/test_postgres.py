"""deploy/dagster.yaml against a real PostgreSQL server (the `postgres` fixture,
finance_pipeline_tests/servers.py) started by the tests themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2

from finance_pipeline.assets import flat_file_day_aggs
from finance_pipeline.resources import lake_resources
from finance_pipeline_tests.assets.support import flat_files_resource

REPO = Path(__file__).resolve().parents[2]
SESSIONS = ["2025-01-07", "2025-01-08", "2025-01-10"]


def _home(postgres: dict[str, str], tmp_path: Path, monkeypatch) -> Path:
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


def _range_run(instance: dg.DagsterInstance, sandbox, lake: Path) -> dg.ExecuteInProcessResult:
    """One chunk of a multi-run backfill: the three sessions in one range run."""
    result = dg.materialize(
        [flat_file_day_aggs],
        instance=instance,
        resources={"flat_files": flat_files_resource(sandbox), **lake_resources(str(lake))},
        tags={
            "dagster/asset_partition_range_start": SESSIONS[0],
            "dagster/asset_partition_range_end": SESSIONS[-1],
        },
    )
    assert result.success
    return result


def test_a_backfill_is_recorded_in_postgresql(
    postgres, paid_sandbox, tmp_path, monkeypatch
) -> None:
    home = _home(postgres, tmp_path, monkeypatch)
    lake = tmp_path / "lake"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
        result = _range_run(instance, paid_sandbox, lake)
        stored = instance.get_materialized_partitions(dg.AssetKey("flat_file_day_aggs"))
        assert stored == set(SESSIONS)
        run_id = result.run_id

    # Read PostgreSQL directly: the run and its materializations are in its tables.
    with (
        psycopg2.connect(
            host=postgres["DAGSTER_PG_HOST"],
            port=int(postgres["DAGSTER_PG_PORT"]),
            user=postgres["DAGSTER_PG_USERNAME"],
            password=postgres["DAGSTER_PG_PASSWORD"],
            dbname=postgres["DAGSTER_PG_DB"],
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchall() == [("SUCCESS",)]
        cur.execute(
            "SELECT partition FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key LIKE %s",
            (run_id, "%flat_file_day_aggs%"),
        )
        assert sorted(row[0] for row in cur.fetchall()) == SESSIONS
    for session in SESSIONS:
        assert (lake / "flat_file_day_aggs" / f"session={session}" / "part-0.parquet").is_file()


def test_batched_event_writes_keep_each_sessions_own_figures(
    postgres, paid_sandbox, tmp_path, monkeypatch
) -> None:
    """DAGSTER_EVENT_BATCH_SIZE (README, Deployment: recommended for backfills) stores a range
    run's materializations in one batch; each session must still carry its own figures."""
    home = _home(postgres, tmp_path, monkeypatch)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _range_run(instance, paid_sandbox, tmp_path / "lake")
        records = instance.fetch_materializations(dg.AssetKey("flat_file_day_aggs"), limit=10)
        by_session = {r.partition_key: r.asset_materialization for r in records.records}
        assert sorted(by_session) == SESSIONS
        for session, event in by_session.items():
            assert event is not None
            metadata = event.metadata
            assert metadata["source_etags"].value == {session: metadata["source_etag"].value}
            assert str(metadata["uri"].value).endswith(f"session={session}/part-0.parquet")
            assert metadata["partitions_written"].value == 1
            assert "run_sessions" not in metadata  # run totals are not a session's figure
        rows = {
            metadata["dagster/row_count"].value
            for metadata in (event.metadata for event in by_session.values() if event)
        }
        assert len(rows) > 1  # each session's own count, not one copied onto all

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


def test_a_backfill_is_recorded_in_postgresql(
    postgres, paid_sandbox, tmp_path, monkeypatch
) -> None:
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    lake = tmp_path / "lake"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
        # One chunk of a multi-run backfill: three sessions in one range run.
        result = dg.materialize(
            [flat_file_day_aggs],
            instance=instance,
            resources={
                "flat_files": flat_files_resource(paid_sandbox),
                **lake_resources(str(lake)),
            },
            tags={
                "dagster/asset_partition_range_start": SESSIONS[0],
                "dagster/asset_partition_range_end": SESSIONS[-1],
            },
        )
        assert result.success
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

"""deploy/dagster.yaml against a real PostgreSQL server started by the test itself.

The server is the Debian `postgresql` package's binaries (/usr/lib/postgresql/*/bin), run from
a temporary data directory on a free port, as the `postgres` user when the test runs as root
(PostgreSQL refuses to run as root). Outside CI a machine without them skips this test; in CI
(CI set) their absence is a failure, since .ci/run installs them.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from finance_pipeline.assets import flat_file_day_aggs
from finance_pipeline.resources import lake_resources
from finance_pipeline_tests.assets.support import flat_files_resource

REPO = Path(__file__).resolve().parents[2]
SESSIONS = ["2025-01-07", "2025-01-08", "2025-01-10"]


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A running PostgreSQL server with a `dagster` database; yields the DAGSTER_PG_* values."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = (
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(Debian package `postgresql`)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test (.ci/run installs the package)")
        pytest.skip(f"{message}; skipped outside CI")
    base = Path(tempfile.mkdtemp(prefix="finance-pipeline-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    password = secrets.token_hex(12)
    (base / "pwfile").write_text(password + "\n")
    (base / "sock").mkdir()
    if as_postgres:
        for path in [base, base / "pwfile", base / "sock"]:
            shutil.chown(path, user="postgres", group="postgres")
    data, port = base / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "dagster", "-E", "UTF8"]
    run(*initdb, "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={base / 'pwfile'}")
    options = f"-p {port} -k {base / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    run(*pg_ctl, "-l", str(base / "server.log"), "-o", options, "start")
    try:
        createdb = [str(bin_dir / "createdb"), "-h", str(base / "sock"), "-p", str(port)]
        run(*createdb, "-U", "dagster", "dagster")
        yield {
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": password,
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_PORT": str(port),
        }
    finally:
        run(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


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

"""Which store PolygonResource's limiter uses: the instance's PostgreSQL, or the machine's SQLite
(FINANCE_PIPELINE_RATE_LIMIT_STORE: auto, sqlite, postgres)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from finance_pipeline.clients.rate_limit import PostgresStore, SqliteStore
from finance_pipeline.resources import resources_from_env
from finance_pipeline.resources.polygon import PolygonResource

REPO = Path(__file__).resolve().parents[2]


def _store_in_a_run(instance: dg.DagsterInstance, resource: PolygonResource) -> object:
    with dg.build_resources({"polygon": resource}, instance=instance) as built:
        limiter = built.polygon.get_client().limiter
        assert limiter is not None
        return limiter.store


def _resource(tmp_path: Path, store: str) -> PolygonResource:
    return PolygonResource(
        api_key="k",
        base_url="http://127.0.0.1:9",
        rate_limit_per_minute=5,
        limiter_dir=str(tmp_path / "limiter"),
        limiter_store=store,  # type: ignore[arg-type]
    )


@pytest.fixture
def pg_instance(postgres, tmp_path, monkeypatch):
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_auto_uses_the_instance_postgres_and_sqlite_otherwise(pg_instance, postgres, tmp_path):
    store = _store_in_a_run(pg_instance, _resource(tmp_path, "auto"))
    assert isinstance(store, PostgresStore)
    assert postgres["DAGSTER_PG_DB"] in repr(store)
    assert postgres["DAGSTER_PG_PASSWORD"] not in repr(store)
    assert isinstance(_store_in_a_run(pg_instance, _resource(tmp_path, "sqlite")), SqliteStore)
    with dg.instance_for_test() as local:
        assert isinstance(_store_in_a_run(local, _resource(tmp_path, "auto")), SqliteStore)


def test_postgres_asked_for_on_a_sqlite_instance_fails_clearly(tmp_path):
    with dg.instance_for_test() as local, pytest.raises(dg.Failure, match="not store its runs"):
        _store_in_a_run(local, _resource(tmp_path, "postgres"))


def test_the_store_variable_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("FINANCE_PIPELINE_RATE_LIMIT_STORE", "postgres")
    monkeypatch.setenv("POLYGON_RATE_LIMIT_WINDOW_SECONDS", "2.5")
    polygon = resources_from_env()["polygon"]
    assert (polygon.limiter_store, polygon.rate_limit_window_seconds) == ("postgres", 2.5)
    monkeypatch.setenv("FINANCE_PIPELINE_RATE_LIMIT_STORE", "redis")
    with pytest.raises(ValueError, match="FINANCE_PIPELINE_RATE_LIMIT_STORE must be one of"):
        resources_from_env()

"""PolygonResource: the Dagster wrapper reads its key from an EnvVar and never shows it."""

from __future__ import annotations

import dagster as dg
import pytest

from finance_pipeline.resources.polygon import PolygonResource
from finance_pipeline_tests.clients.fake_polygon import GOOD_KEY, FakePolygon


@pytest.fixture
def fake():
    with FakePolygon() as server:
        yield server


def test_resource_reads_the_key_from_env_and_never_shows_it(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_POLYGON_KEY", GOOD_KEY)
    resource = PolygonResource(
        api_key=dg.EnvVar("TEST_POLYGON_KEY"),
        base_url=fake.url,
        rate_limit_per_minute=0,
        limiter_dir=str(tmp_path),
    )
    seen = {}

    @dg.asset
    def market(polygon: PolygonResource) -> dg.MaterializeResult:
        client = polygon.get_client()
        seen["status"] = client.market_status()["market"]
        seen["text"] = f"{polygon!r} {polygon} {client!r}"
        return dg.MaterializeResult(metadata=client.metrics())

    with dg.instance_for_test() as instance:
        result = dg.materialize([market], resources={"polygon": resource}, instance=instance)
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
    assert seen["status"] == "closed"
    assert metadata["api_calls"].value == 1
    assert GOOD_KEY not in seen["text"]
    assert GOOD_KEY not in repr(resource)

"""FlatFilesResource: the Dagster wrapper builds a FlatFilesClient from its nested S3Resource,
with the secret from an EnvVar in a run and masked in every message."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from finance_pipeline.clients.polygon_flat_files import FlatFileAccessDenied, FlatFileError
from finance_pipeline.resources.flat_files_resource import FlatFilesResource
from finance_pipeline.sandbox import Sandbox

NOW = dt.datetime(2025, 2, 4, 18, 0, tzinfo=dt.UTC)
SESSION = dt.date(2025, 2, 3)
DAY = "day_aggs_v1"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(tickers=20, seed=13, now=NOW) as sandbox:
        yield sandbox


def make_resource(sb: Sandbox, secret: str | None = None, key_id: str | None = None):
    return FlatFilesResource(
        s3=S3Resource(
            endpoint_url=sb.s3_endpoint_url,
            aws_access_key_id=key_id or sb.s3_access_key_id,
            aws_secret_access_key=secret or sb.s3_secret_access_key,
            region_name="us-east-1",
            max_attempts=1,
        ),
        bucket=sb.bucket,
    )


def test_refused_credentials_are_a_clear_error_without_the_secret(sb):
    secret = "wrong-secret-Zq81xv0PnT"
    client = make_resource(sb, secret=secret, key_id="AKIAUNKNOWN0000").get_client()
    with pytest.raises(FlatFileAccessDenied) as caught:
        client.download(DAY, SESSION)
    message = str(caught.value)
    assert "FLATFILES_ACCESS_KEY_ID" in message and "2025-02-03.csv.gz" in message
    assert secret not in message
    with pytest.raises(FlatFileError, match="listing"):
        client.list_sessions(DAY, SESSION, SESSION)


def test_resource_in_a_dagster_run_with_the_secret_from_env(sb, monkeypatch):
    sb.faults.clear()
    monkeypatch.setenv("TEST_FLATFILES_SECRET", sb.s3_secret_access_key)
    resource = FlatFilesResource(
        s3=S3Resource(
            endpoint_url=sb.s3_endpoint_url,
            aws_access_key_id=sb.s3_access_key_id,
            aws_secret_access_key=dg.EnvVar("TEST_FLATFILES_SECRET"),
            region_name="us-east-1",
        ),
        bucket=sb.bucket,
    )

    @dg.asset
    def day_file(flat_files: FlatFilesResource) -> dg.MaterializeResult:
        client = flat_files.get_client()
        info = client.head(DAY, SESSION)
        assert info is not None
        return dg.MaterializeResult(
            metadata={"s3_requests": client.total_requests, "bytes": info.size}
        )

    with dg.instance_for_test() as instance:
        result = dg.materialize([day_file], resources={"flat_files": resource}, instance=instance)
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
    assert metadata["s3_requests"].value == 1
    assert metadata["bytes"].value > 0

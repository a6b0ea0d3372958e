"""Lakes for the lake tests: a local one per test, an S3 one per test on a module's moto server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline_tests.lake.support import new_bucket
from finance_pipeline_tests.moto_s3 import moto_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, object]]:
    with moto_s3() as endpoint_and_client:
        yield endpoint_and_client


@pytest.fixture
def s3_lake(s3) -> Lake:
    _, client = s3
    return Lake(f"s3://{new_bucket(client)}/some/prefix", s3_client=client)


@pytest.fixture
def local_lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))

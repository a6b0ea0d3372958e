"""The lake as a Dagster resource: what the IO manager, the curated assets and the checks read
and write through. The lake itself (layout, atomic writes, verification) has no Dagster in it."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from finance_pipeline.lake import Lake
from finance_pipeline.lake.layout import is_s3_root


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake at `lake_root` (layout: `finance_pipeline.lake.layout`)."""

    lake_root: str = Field(description="A directory or s3://bucket/prefix.")
    s3: S3Resource | None = Field(
        default=None, description="S3 connection for an s3:// lake_root (boto3 defaults if unset)."
    )

    _lake: Lake | None = PrivateAttr(default=None)

    def get_lake(self) -> Lake:
        """The lake, built once per resource instance."""
        if self._lake is None:
            client = None
            if is_s3_root(self.lake_root):
                if self.s3 is not None:
                    client = self.s3.get_client()
                else:
                    import boto3

                    client = boto3.client("s3")
            self._lake = Lake(self.lake_root, s3_client=client)
        return self._lake

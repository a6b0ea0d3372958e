"""Polygon flat files as a Dagster resource: an S3 connection in, a `FlatFilesClient` out.

The client itself (listing, verified downloads, errors) is plain Python in
`finance_pipeline.clients.polygon_flat_files`. The S3 secret is configured as an `EnvVar` on
the nested `S3Resource`; `get_client` hands it to the client only to mask it in messages.
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from finance_pipeline.clients.polygon_flat_files import FlatFilesClient


class FlatFilesResource(dg.ConfigurableResource):
    """Builds a FlatFilesClient on the flat-file S3 endpoint."""

    # A nested resource, not dg.ResourceDependency[...]: with postponed annotations (this
    # module's `from __future__ import annotations`) Dagster rejects an S3Resource instance
    # passed for a ResourceDependency field.
    s3: S3Resource = Field(description="Flat-file S3 endpoint, access key and secret (EnvVar).")
    bucket: str = Field(default="flatfiles", description="Bucket holding the flat files.")
    prefix: str = Field(default="us_stocks_sip", description="Key prefix above the datasets.")

    def get_client(self) -> FlatFilesClient:
        """A fresh client with its own request counters."""
        secret = getattr(self.s3, "aws_secret_access_key", None)
        return FlatFilesClient(
            self.s3.get_client(),
            bucket=self.bucket,
            prefix=self.prefix,
            secrets=[secret if isinstance(secret, str) else None],
        )

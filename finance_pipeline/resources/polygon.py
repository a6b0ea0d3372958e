"""The Polygon REST client as a Dagster resource: configuration in, a `PolygonClient` out.

The client itself (transport, retries, accounting, errors) is plain Python in
`finance_pipeline.clients.polygon_rest`. The key is configured as an `EnvVar`, so it is
resolved when a run launches and never enters run config; it is kept out of the resource's repr.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from finance_pipeline.clients.polygon_rest import PolygonClient
from finance_pipeline.settings import DEFAULT_POLYGON_BASE_URL


class PolygonResource(dg.ConfigurableResource):
    """Builds a PolygonClient. `rate_limit_per_minute` is L requests per
    `rate_limit_window_seconds`; the limiter's state is shared by every process on the machine."""

    api_key: str = Field(repr=False, description="Polygon API key (use EnvVar)")
    base_url: str = Field(
        default=DEFAULT_POLYGON_BASE_URL, description="REST base URL (the sandbox's, in tests)."
    )
    rate_limit_per_minute: int = Field(
        default=5, description="Requests allowed per window by the plan; 0 turns the limiter off."
    )
    rate_limit_window_seconds: float = Field(
        default=60.0, description="The limiter's window (60 s unless a test compresses time)."
    )
    connect_timeout_seconds: float = Field(default=10.0, description="Connect timeout.")
    read_timeout_seconds: float = Field(default=30.0, description="Read timeout per response.")
    max_retries: int = Field(
        default=5, description="Retries of a 429, 5xx, timeout or connection error."
    )
    backoff_seconds: float = Field(
        default=1.0, description="First backoff; doubled per retry, with jitter."
    )
    limiter_dir: str | None = Field(
        default=None, description="Directory of the limiter's state (default: a per-user temp dir)."
    )

    def get_client(self) -> PolygonClient:
        """A fresh client with its own counters."""
        return PolygonClient(
            self.api_key,
            base_url=self.base_url,
            rate_limit_per_minute=self.rate_limit_per_minute,
            rate_limit_window_seconds=self.rate_limit_window_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            read_timeout_seconds=self.read_timeout_seconds,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff_seconds,
            limiter_dir=self.limiter_dir,
        )

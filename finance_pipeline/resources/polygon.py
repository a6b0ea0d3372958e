"""The Polygon REST client as a Dagster resource: configuration in, a `PolygonClient` out.

The client itself (transport, retries, accounting, errors) is plain Python in
`finance_pipeline.clients.polygon_rest`. Where the rate limiter keeps its window is chosen here
(`limiter_store`): PostgreSQL, the database of the Dagster instance the run belongs to, or the
machine's SQLite file. The key is configured as an `EnvVar`, so it is
resolved when a run launches and never enters run config; it is kept out of the resource's repr.
"""

from __future__ import annotations

from typing import Literal, get_args

import dagster as dg
from pydantic import Field, PrivateAttr

from finance_pipeline.clients.polygon_rest import PolygonClient
from finance_pipeline.settings import DEFAULT_POLYGON_BASE_URL

LimiterStore = Literal["auto", "sqlite", "postgres"]
LIMITER_STORES: tuple[str, ...] = get_args(LimiterStore)


class PolygonResource(dg.ConfigurableResource):
    """Builds a PolygonClient. `rate_limit_per_minute` is L requests per
    `rate_limit_window_seconds`, held across every process sharing the limiter's store."""

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
    limiter_store: LimiterStore = Field(
        default="auto",
        description=(
            "Where the limiter's window lives: postgres (the Dagster instance's database, shared "
            "by every worker), sqlite (this machine), or auto (postgres when the instance is)."
        ),
    )
    _instance_dsn: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._instance_dsn = instance_postgres_dsn(context.instance)

    def _limiter_dsn(self) -> str | None:
        if self.limiter_store == "sqlite":
            return None
        if self.limiter_store == "postgres" and self._instance_dsn is None:
            raise dg.Failure(
                description=(
                    "limiter_store is postgres (FINANCE_PIPELINE_RATE_LIMIT_STORE) but the Dagster "
                    "instance of this run does not store its runs in PostgreSQL"
                )
            )
        return self._instance_dsn

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
            limiter_postgres_dsn=self._limiter_dsn(),
        )


def instance_postgres_dsn(instance: dg.DagsterInstance | None) -> str | None:
    """The libpq URI of the instance's PostgreSQL run storage, or None when it has none."""
    url = getattr(getattr(instance, "run_storage", None), "postgres_url", None)
    if not isinstance(url, str) or not url.startswith("postgresql"):
        return None
    # SQLAlchemy's driver suffix (postgresql+psycopg2://) means nothing to libpq.
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if "+" in scheme else url

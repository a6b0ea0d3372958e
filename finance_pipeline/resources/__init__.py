"""Dagster resources: thin wrappers around the vendor clients (Polygon REST, flat files on S3),
the lake resource and the Parquet IO manager."""

from __future__ import annotations

from typing import Any, cast

import dagster as dg
from dagster_aws.s3 import S3Resource

from finance_pipeline.resources.flat_files_resource import FlatFilesResource
from finance_pipeline.resources.lake import LakeResource
from finance_pipeline.resources.parquet_io_manager import ParquetIOManager
from finance_pipeline.resources.polygon import LIMITER_STORES, LimiterStore, PolygonResource
from finance_pipeline.settings import LakeLocation, env

__all__ = [
    "FlatFilesResource",
    "LakeResource",
    "ParquetIOManager",
    "PolygonResource",
    "lake_resources",
    "resources_from_env",
]

FLATFILES_REGION = "us-east-1"


def _int_env(name: str) -> int:
    raw = env(name) or "0"
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _float_env(name: str) -> float:
    raw = _str_env(name)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _limiter_store() -> LimiterStore:
    store = _str_env("FINANCE_PIPELINE_RATE_LIMIT_STORE")
    if store in LIMITER_STORES:
        return cast(LimiterStore, store)
    raise ValueError(
        f"FINANCE_PIPELINE_RATE_LIMIT_STORE must be one of {', '.join(LIMITER_STORES)}, "
        f"got {store!r}"
    )


def _str_env(name: str) -> str:
    """A variable the environment contract gives a default, so it is never unset."""
    value = env(name)
    if value is None:
        raise ValueError(f"{name} has no value and no default")
    return value


def lake_resources(lake_root: str, s3: S3Resource | None = None) -> dict[str, Any]:
    """The lake resource and the IO manager that stores asset outputs in it."""
    lake = LakeResource(lake_root=lake_root, s3=s3)
    return {"lake": lake, "parquet_io_manager": ParquetIOManager(lake=lake)}


def resources_from_env() -> dict[str, Any]:
    """The resources of the environment contract (finance_pipeline.settings).

    Secrets stay `EnvVar`s, resolved when a run launches, so they never enter run config and
    loading needs no environment. Other values are read now, defaults applied when unset.
    """
    lake = LakeLocation.from_env()
    lake_s3 = S3Resource(endpoint_url=env("FINANCE_PIPELINE_LAKE_ENDPOINT_URL"))
    return {
        "polygon": PolygonResource(
            api_key=dg.EnvVar("POLYGON_API_KEY"),
            base_url=_str_env("POLYGON_BASE_URL"),
            rate_limit_per_minute=_int_env("POLYGON_RATE_LIMIT_PER_MINUTE"),
            rate_limit_window_seconds=_float_env("POLYGON_RATE_LIMIT_WINDOW_SECONDS"),
            limiter_store=_limiter_store(),
        ),
        "flat_files": FlatFilesResource(
            s3=S3Resource(
                endpoint_url=env("FLATFILES_ENDPOINT_URL"),
                aws_access_key_id=env("FLATFILES_ACCESS_KEY_ID"),
                aws_secret_access_key=dg.EnvVar("FLATFILES_SECRET_ACCESS_KEY"),
                region_name=FLATFILES_REGION,
            ),
            bucket=_str_env("FLATFILES_BUCKET"),
        ),
        **lake_resources(lake.root, lake_s3 if lake.is_s3 else None),
    }

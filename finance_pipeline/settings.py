"""The environment contract: every variable the pipeline reads, with its default.

Resources read these through Dagster `EnvVar`s (secrets) or plain values resolved when the
definitions load; the CLI reads them here. The README's configuration table mirrors ENV_VARS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The vendor (Polygon, now Massive) documents the massive hosts; api.polygon.io and
# files.polygon.io serve the same data and keep working.
DEFAULT_POLYGON_BASE_URL = "https://api.massive.com"
DEFAULT_FLATFILES_ENDPOINT_URL = "https://files.massive.com"
DEFAULT_FLATFILES_BUCKET = "flatfiles"
DEFAULT_LAKE = ".lake"

# name -> (default or None, secret?, what it is)
ENV_VARS: dict[str, tuple[str | None, bool, str]] = {
    "POLYGON_API_KEY": (None, True, "Polygon REST API key; unset means: use the sandbox"),
    "POLYGON_BASE_URL": (DEFAULT_POLYGON_BASE_URL, False, "REST base URL, no trailing slash"),
    "POLYGON_PLAN": ("free", False, "free or paid: what the key may fetch (today, snapshot)"),
    "POLYGON_RATE_LIMIT_PER_MINUTE": ("5", False, "plan limit; 0 means unlimited (paid plans)"),
    "POLYGON_RATE_LIMIT_WINDOW_SECONDS": (
        "60",
        False,
        "the window the plan limit counts over (tests compress it)",
    ),
    "FINANCE_PIPELINE_RATE_LIMIT_STORE": (
        "auto",
        False,
        "where the rate limiter's window lives: auto (postgres when the Dagster instance is on "
        "PostgreSQL, else sqlite), sqlite (one machine) or postgres (every worker)",
    ),
    "FLATFILES_ENDPOINT_URL": (DEFAULT_FLATFILES_ENDPOINT_URL, False, "S3 endpoint of flat files"),
    "FLATFILES_ACCESS_KEY_ID": (None, False, "S3 access key id for flat files"),
    "FLATFILES_SECRET_ACCESS_KEY": (None, True, "S3 secret for flat files"),
    "FLATFILES_BUCKET": (DEFAULT_FLATFILES_BUCKET, False, "flat-file bucket"),
    "FINANCE_PIPELINE_LAKE": (DEFAULT_LAKE, False, "lake root: a directory or s3://bucket/prefix"),
    "FINANCE_PIPELINE_LAKE_ENDPOINT_URL": (
        None,
        False,
        "S3 endpoint for an s3:// lake that is not on AWS (credentials: the AWS_* variables)",
    ),
    "FINANCE_PIPELINE_WATCHLIST": (
        "AAPL,MSFT,NVDA,SPY,BRK.A",
        False,
        "comma-separated tickers that get per-ticker REST minute fills",
    ),
    "FINANCE_PIPELINE_ALERT_WEBHOOK_URL": (
        None,
        True,
        "optional webhook that receives failed-check alerts as JSON POSTs (may hold a token)",
    ),
    "FINANCE_PIPELINE_DAILY_SCHEDULE_TIME": (
        "00:45",
        False,
        "New York time (HH:MM) the daily schedule asks for the session that ended the day before",
    ),
    "FINANCE_PIPELINE_CORRECTION_SCHEDULE_TIME": (
        "12:00",
        False,
        "New York time (HH:MM) the correction schedule re-fetches the recent sessions",
    ),
    "FINANCE_PIPELINE_CORRECTION_SESSIONS": (
        "5",
        False,
        "how many recent sessions the correction schedule re-fetches",
    ),
    "FINANCE_PIPELINE_FLAT_FILE_WINDOW_SESSIONS": (
        "10",
        False,
        "how many recent sessions the flat-file sensor watches for new or restated files",
    ),
    "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL": (
        "300",
        False,
        "seconds between two flat-file sensor ticks (at least)",
    ),
    "FINANCE_PIPELINE_AUTOMATION_INTERVAL": (
        "60",
        False,
        "seconds between two evaluations of the curated assets' automation conditions",
    ),
    "FINANCE_PIPELINE_EXECUTOR": (
        "in_process",
        False,
        "in_process (steps share one process), celery (steps on Celery workers; needs the celery "
        "extra) or k8s (a pod per step; needs dagster-k8s)",
    ),
    "FINANCE_PIPELINE_CELERY_BROKER_URL": (
        None,
        True,
        "Redis URL of the Celery broker and result backend (executor celery; may hold a "
        "password); unset: redis://127.0.0.1:6379/0",
    ),
    "FINANCE_PIPELINE_GIT_URL": (
        None,
        False,
        "GitHub or GitLab URL of the repository; asset code references then link to it",
    ),
    "FINANCE_PIPELINE_GIT_BRANCH": ("main", False, "branch the code references link to"),
    "FINANCE_PIPELINE_SANDBOX_SPEED": (
        "60",
        False,
        "`make ui` only: sandbox seconds per real second (1 = real time)",
    ),
    "DAGSTER_HOME": (None, False, "Dagster instance directory (run history, schedules)"),
}


def env(name: str) -> str | None:
    """The variable's value, or its documented default. Empty strings count as unset."""
    default = ENV_VARS[name][0]
    value = os.environ.get(name, "").strip()
    return value or default


def secret_values() -> list[str]:
    """Values of the secret variables currently set, for redaction."""
    return [v for name, (_, secret, _) in ENV_VARS.items() if secret and (v := env(name))]


@dataclass(frozen=True)
class LakeLocation:
    """Where the lake lives: a local directory or an S3 URI (`s3://bucket/prefix`)."""

    root: str

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @classmethod
    def from_env(cls) -> LakeLocation:
        root = env("FINANCE_PIPELINE_LAKE") or DEFAULT_LAKE
        if root.startswith("s3://") and not root[len("s3://") :].strip("/"):
            raise ValueError("FINANCE_PIPELINE_LAKE=s3:// names no bucket; use s3://bucket/prefix")
        if not root.startswith("s3://"):
            root = str(Path(root).expanduser().resolve())
        return cls(root.rstrip("/"))


def watchlist() -> tuple[str, ...]:
    """FINANCE_PIPELINE_WATCHLIST as symbols: de-duplicated, order and case kept."""
    raw = env("FINANCE_PIPELINE_WATCHLIST") or ""
    return tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))

"""The Celery app of the `celery` executor (FINANCE_PIPELINE_EXECUTOR=celery; the `celery` extra).

Every worker runs it: `celery -A finance_pipeline.celery_app worker --pool solo`, with the
pipeline's environment (POLYGON_*, FINANCE_PIPELINE_LAKE=s3://..., the instance's DAGSTER_PG_*).
It listens on the broker the executor sends steps to, FINANCE_PIPELINE_CELERY_BROKER_URL (Redis;
it is the result backend too). A step arrives with the run's instance reference, so a worker
needs no Dagster home of its own; it shares only PostgreSQL, Redis and the S3 lake with the
others.
"""

from __future__ import annotations

import os
from typing import Any

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from finance_pipeline.settings import env

BROKER_VARIABLE = "FINANCE_PIPELINE_CELERY_BROKER_URL"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


def broker_url() -> str:
    return env(BROKER_VARIABLE) or DEFAULT_BROKER_URL


def executor_config() -> dict[str, Any]:
    """The `celery_executor`'s config: broker and result backend. A URL set in the environment
    stays an env reference (it may hold a password), resolved when a run starts."""
    url: Any = {"env": BROKER_VARIABLE} if os.environ.get(BROKER_VARIABLE) else broker_url()
    return {"broker": url, "backend": url}


def _app() -> Any:
    url = broker_url()
    return make_app(CeleryExecutor.for_cli(broker=url, backend=url).app_args())


app = _app()
execute_plan = create_task(app)

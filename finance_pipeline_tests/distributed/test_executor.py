"""FINANCE_PIPELINE_EXECUTOR=celery selects dagster-celery's executor, on the broker of
FINANCE_PIPELINE_CELERY_BROKER_URL, without the URL (it may hold a password) in definitions."""

from __future__ import annotations

from finance_pipeline.celery_app import BROKER_VARIABLE, DEFAULT_BROKER_URL, executor_config
from finance_pipeline.definitions import build_definitions


def test_celery_is_selected_and_a_set_broker_url_stays_an_env_reference(monkeypatch):
    monkeypatch.setenv("FINANCE_PIPELINE_EXECUTOR", "celery")
    monkeypatch.setenv(BROKER_VARIABLE, "redis://:s3cret@broker:6379/0")
    job = build_definitions().resolve_job_def("daily_sources_job")
    assert job.executor_def.name == "celery"
    assert executor_config() == {
        "broker": {"env": BROKER_VARIABLE},
        "backend": {"env": BROKER_VARIABLE},
    }


def test_an_unset_broker_url_is_the_local_redis(monkeypatch):
    monkeypatch.delenv(BROKER_VARIABLE, raising=False)
    assert executor_config() == {"broker": DEFAULT_BROKER_URL, "backend": DEFAULT_BROKER_URL}

"""The code location: every asset, check, schedule, sensor and resource, wired together."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

import finance_pipeline.assets
from finance_pipeline.automation import SCHEDULES, SENSORS
from finance_pipeline.checks import ALL_CHECKS, CHECK_SCHEDULES, CHECK_SENSORS
from finance_pipeline.configuration import validate
from finance_pipeline.resources import resources_from_env
from finance_pipeline.settings import env


def _executor() -> dg.ExecutorDefinition:
    # In-process by default: steps are I/O bound and throttled by the Polygon pool and limiter,
    # and a process per step would re-import Dagster for every check (minutes per run).
    if env("FINANCE_PIPELINE_EXECUTOR") == "celery":
        from dagster_celery import celery_executor  # the `celery` extra

        from finance_pipeline.celery_app import executor_config

        return celery_executor.configured(executor_config(), name="celery")
    if env("FINANCE_PIPELINE_EXECUTOR") == "k8s":
        from dagster_k8s import k8s_job_executor  # only in the Kubernetes image

        return k8s_job_executor
    return dg.in_process_executor


def _with_code_references(assets: Sequence[Any]) -> Sequence[Any]:
    """Each asset's source file and line in the UI; linked to the repository when
    FINANCE_PIPELINE_GIT_URL is set, else to the local file."""
    located = dg.with_source_code_references(assets)
    git_url = env("FINANCE_PIPELINE_GIT_URL")
    if not git_url:
        return located
    return dg.link_code_references_to_git(
        located,
        git_url=git_url,
        git_branch=env("FINANCE_PIPELINE_GIT_BRANCH") or "main",
        file_path_mapping=dg.AnchorBasedFilePathMapping(
            local_file_anchor=Path(__file__).parent,
            file_anchor_path_in_repository="finance_pipeline/",
        ),
    )


def build_definitions() -> dg.Definitions:
    """The definitions with resources and executor read from the environment as it is now
    (the demo and the CLI call this after they have set the environment up). A bad variable
    fails the load with one `ConfigError` line naming it."""
    validate(instance=False)
    return dg.Definitions(
        assets=_with_code_references(dg.load_assets_from_package_module(finance_pipeline.assets)),
        asset_checks=ALL_CHECKS,
        schedules=[*SCHEDULES, *CHECK_SCHEDULES],
        sensors=[*SENSORS, *CHECK_SENSORS],
        resources=resources_from_env(),
        executor=_executor(),
    )


defs = build_definitions()

"""The code location: every asset, check, schedule, sensor and resource, wired together."""

import dagster as dg

import finance_pipeline.assets
from finance_pipeline.automation import SCHEDULES, SENSORS
from finance_pipeline.checks import ALL_CHECKS, CHECK_SCHEDULES, CHECK_SENSORS
from finance_pipeline.resources import resources_from_env

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(finance_pipeline.assets),
    asset_checks=ALL_CHECKS,
    schedules=[*SCHEDULES, *CHECK_SCHEDULES],
    sensors=[*SENSORS, *CHECK_SENSORS],
    resources=resources_from_env(),
)

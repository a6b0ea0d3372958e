"""Schedules and sensors that keep the lake fresh by themselves.

- `daily_sources_schedule`: the session that ended last night, from the sources the router picks.
- `correction_window_schedule`: the newest N sessions again, to absorb vendor corrections.
- `flat_file_sensor`: a session's day/minute flat file as soon as it is (re)published on S3.
- `curated_automation_sensor`: the curated layer follows its sources (automation conditions).
"""

from finance_pipeline.automation.jobs import JOBS
from finance_pipeline.automation.schedules import build_correction_schedule, build_daily_schedule
from finance_pipeline.automation.sensors import (
    build_curated_automation_sensor,
    build_flat_file_sensor,
)

daily_sources_schedule = build_daily_schedule()
correction_window_schedule = build_correction_schedule()
flat_file_sensor = build_flat_file_sensor()
curated_automation_sensor = build_curated_automation_sensor()

SCHEDULES = [daily_sources_schedule, correction_window_schedule]
SENSORS = [flat_file_sensor, curated_automation_sensor]

__all__ = [
    "JOBS",
    "SCHEDULES",
    "SENSORS",
    "correction_window_schedule",
    "curated_automation_sensor",
    "daily_sources_schedule",
    "flat_file_sensor",
]

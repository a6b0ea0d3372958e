"""The router's availability and cost rules: publication times and rate-limited wall time."""

import math

import pytest

from finance_pipeline.router.model import Credentials, Request
from finance_pipeline.router.routing import plan
from finance_pipeline.router.rules import (
    flat_file_available_at,
    grouped_daily_available_at,
    min_wall_seconds,
)
from finance_pipeline_tests.router.support import LATER, PAID_NO_FILES, SP500, YEAR_2024, D, ny, utc


def test_availability_functions_follow_the_documented_times():
    assert flat_file_available_at(D("2025-01-10")) == ny("2025-01-11T11:00")
    assert flat_file_available_at(D("2025-01-10")).utcoffset() is not None
    assert grouped_daily_available_at(D("2025-01-10"), free_plan=False) == ny("2025-01-10T16:15")
    assert grouped_daily_available_at(D("2024-11-29"), free_plan=False) == ny("2024-11-29T13:15")
    assert grouped_daily_available_at(D("2025-01-10"), free_plan=True) == ny("2025-01-11T00:30")
    # summer time: still 16:15 New York, which is 20:15 UTC
    assert grouped_daily_available_at(D("2025-07-01"), free_plan=False) == utc("2025-07-01T20:15")


@pytest.mark.parametrize(
    ("calls", "limit", "seconds"),
    [
        (0, 5, 0),
        (5, 5, 0),  # the first window's allowance goes at once
        (6, 5, 60),
        (10, 5, 60),
        (11, 5, 120),
        (252, 5, 60 * math.ceil((252 - 5) / 5)),
        (126_000, 0, 0),  # unlimited
    ],
)
def test_min_wall_seconds(calls, limit, seconds):
    assert min_wall_seconds(calls, limit) == seconds


def test_plan_min_wall_seconds_under_a_five_per_minute_limit():
    creds = Credentials(rate_limit_per_minute=5, flat_files=False, free_plan=False)
    p = plan(Request("daily_bars", YEAR_2024, SP500, LATER), creds)
    assert p.min_wall_seconds == min_wall_seconds(252, 5) > 0
    assert p.old_path_min_wall_seconds == min_wall_seconds(126_000, 5)
    assert plan(Request("daily_bars", YEAR_2024, SP500, LATER), PAID_NO_FILES).min_wall_seconds == 0

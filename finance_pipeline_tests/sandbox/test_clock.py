"""The sandbox clock runs at a speed (what `make ui` uses), and files publish as it runs."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from finance_pipeline.calendar import NEW_YORK
from finance_pipeline.sandbox import object_key
from finance_pipeline.sandbox.clock import Clock

MOMENT = dt.datetime(2025, 1, 16, 10, 59, tzinfo=NEW_YORK)


def test_a_running_clock_moves_speed_times_real_time(monkeypatch) -> None:
    real = [1000.0]
    monkeypatch.setattr("finance_pipeline.sandbox.clock.time.monotonic", lambda: real[0])
    clock = Clock(MOMENT)
    assert clock() == MOMENT  # frozen until run
    clock.run(60)
    assert clock() == MOMENT
    real[0] += 10
    assert clock() == MOMENT + dt.timedelta(minutes=10)
    clock.advance(dt.timedelta(hours=1))
    assert clock() == MOMENT + dt.timedelta(minutes=70)
    clock.set(MOMENT)
    real[0] += 10
    assert clock() == MOMENT  # set freezes it again


@pytest.mark.parametrize("speed", [0, -1, float("nan")])
def test_a_clock_refuses_a_speed_that_is_not_above_zero(speed) -> None:
    with pytest.raises(ValueError, match="speed must be above 0"):
        Clock(MOMENT).run(speed)


def test_flat_files_publish_while_the_clock_runs(fresh_sandbox) -> None:
    """One minute before 11:00 New York the day file of the session before is not there; with
    the clock running at 600x it appears within seconds, read through S3 like the sensor."""
    session = dt.date(2025, 1, 15)
    sandbox = fresh_sandbox(tickers=20, now=MOMENT)
    key = object_key("day_aggs_v1", session)
    client = sandbox.s3_client()

    def listed() -> bool:
        prefix = key.rsplit("/", 1)[0] + "/"
        answer = client.list_objects_v2(Bucket=sandbox.bucket, Prefix=prefix)
        return key in {o["Key"] for o in answer.get("Contents", [])}

    assert not listed()
    sandbox.run_clock(600)
    deadline = time.monotonic() + 30
    while not listed():
        assert time.monotonic() < deadline, f"{key} not published as the clock ran"
    assert sandbox.now > MOMENT + dt.timedelta(minutes=1)

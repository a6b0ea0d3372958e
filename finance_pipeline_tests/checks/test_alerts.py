"""The alert sensor against a real Dagster instance and a real local HTTP receiver."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import pytest

from finance_pipeline.checks.alerts import (
    WEBHOOK_ENV,
    Alert,
    AlertCursor,
    AlertDeliveryError,
    Notifier,
    check_evaluation_records,
    check_failure_alerts,
    to_alert,
)

TOKEN = "hook-token-s3cret"


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that records JSON bodies; `status` is what it answers."""

    url: str
    bodies: list[dict] = field(default_factory=list)
    status: int = 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.bodies)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            if state.status == 200:
                state.bodies.append(body)
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/alerts?token={TOKEN}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dg.asset
def toy() -> int:
    return 1


@dg.asset_check(asset=toy, name="always_warns")
def always_warns() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="volume drift on 2 tickers",
        metadata={"offenders": "AAPL, SPY", "mismatched": 2},
    )


@dg.asset_check(asset=toy, name="always_passes")
def always_passes() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=toy, name="always_errors")
def always_errors() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.ERROR, description="prices differ"
    )


@pytest.fixture(params=["sharded", "consolidated"])
def instance(request, tmp_path) -> Iterator[dg.DagsterInstance]:
    """The default run-sharded SQLite storage (ids not unique across runs) and a consolidated
    one (one id sequence, like Postgres)."""
    overrides = None
    if request.param == "consolidated":
        overrides = {
            "event_log_storage": {
                "module": "dagster._core.storage.event_log",
                "class": "ConsolidatedSqliteEventLogStorage",
                "config": {"base_dir": str(tmp_path / "events")},
            }
        }
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def failures(instance: dg.DagsterInstance) -> list:
    records = check_evaluation_records(instance, AlertCursor(), time.time())
    return [a for a in map(to_alert, records) if a is not None]


def run_checks(instance: dg.DagsterInstance) -> None:
    result = dg.materialize(
        [toy, always_warns, always_passes, always_errors], instance=instance, raise_on_error=False
    )
    assert len(result.get_asset_check_evaluations()) == 3


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorExecutionData:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return check_failure_alerts.evaluate_tick(context)


def test_each_failure_is_posted_once_across_ticks(instance, receiver, monkeypatch) -> None:
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
    run_checks(instance)
    first = tick(instance, None)
    bodies = receiver.wait_for(2)
    assert sorted(b["check"] for b in bodies) == ["always_errors", "always_warns"]
    warn = next(b for b in bodies if b["check"] == "always_warns")
    assert warn["severity"] == "WARN" and warn["asset"] == "toy"
    assert warn["metadata"] == {"offenders": "AAPL, SPY", "mismatched": 2}
    assert "AAPL, SPY" in warn["text"]

    # Nothing new: further ticks send nothing and keep the cursor.
    second = tick(instance, first.cursor)
    third = tick(instance, second.cursor)
    assert third.cursor == first.cursor
    assert len(receiver.bodies) == 2

    # A new run's failures are reported, and only those.
    run_checks(instance)
    fourth = tick(instance, third.cursor)
    tick(instance, fourth.cursor)
    bodies = receiver.wait_for(4)
    assert len(bodies) == 4
    assert len({b["run_id"] for b in bodies}) == 2


def test_delivery_failure_keeps_the_alert_for_the_next_tick(
    instance, receiver, monkeypatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
    run_checks(instance)
    receiver.status = 503
    failed = tick(instance, None)
    assert receiver.bodies == []
    assert "alert delivery failed" in failed.skip_message
    assert TOKEN not in failed.skip_message and "127.0.0.1" not in failed.skip_message

    receiver.status = 200
    recovered = tick(instance, failed.cursor)
    tick(instance, recovered.cursor)
    bodies = receiver.wait_for(2)
    assert sorted(b["check"] for b in bodies) == ["always_errors", "always_warns"]


def test_without_webhook_failures_are_logged_once(instance, monkeypatch) -> None:
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    run_checks(instance)
    assert {a.check for a in failures(instance)} == {"always_warns", "always_errors"}
    first = tick(instance, None)
    assert first.skip_message == "2 failed check(s) reported"
    again = tick(instance, first.cursor)
    assert again.skip_message == "no new check failures"


def test_unreachable_webhook_error_hides_the_url() -> None:
    alert = Alert(
        event_id="run:1",
        asset="grouped_daily_bars",
        check="matches_rest_sample",
        severity="ERROR",
        partition="2024-03-05",
        description="prices differ",
        run_id="run",
        timestamp=time.time(),
    )
    # Port 9 on loopback: nothing listens, the connection is refused.
    notifier = Notifier(f"http://127.0.0.1:9/alerts?token={TOKEN}", timeout_seconds=5)
    with pytest.raises(AlertDeliveryError) as raised:
        notifier.notify(alert, dg.get_dagster_logger())
    assert TOKEN not in str(raised.value) and WEBHOOK_ENV in str(raised.value)
    assert "grouped_daily_bars[2024-03-05]" in alert.text()


def test_cursor_round_trip() -> None:
    cursor = AlertCursor(12, 1700000000.5, {"run:3": 1700000000.0})
    assert AlertCursor.parse(cursor.dump()) == cursor
    assert AlertCursor.parse(None) == AlertCursor()

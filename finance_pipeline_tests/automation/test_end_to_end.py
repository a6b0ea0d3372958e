"""End to end, the way a user works: `dagster dev` (webserver + daemon) against the sandbox.

The sandbox's market ends at the last session whose partition exists today (real time), so the
daemon's flat-file sensor, which reads the wall clock, watches it. Its window is narrowed to
that one session: the backfilled sessions before it are the backfill's alone. The sandbox clock
starts a minute before that session's flat files are due, then moves past it to publish them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from finance_pipeline.calendar import NEW_YORK, new_york_date, previous_session, sessions_between
from finance_pipeline.local_instance import LOCAL_INSTANCE_YAML
from finance_pipeline.router import flat_file_available_at
from finance_pipeline.sandbox import Sandbox, object_key

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAGSTER_DEV = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
BACKFILLED_ASSETS = ["flat_file_day_aggs", "grouped_daily_bars"]
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH_BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { id status numPartitions }
    ... on PythonError { message }
  }
}
"""
WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterDev:
    """`dagster dev` in its own process group, with its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [*DAGSTER_DEV, "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_for(self, condition: Callable[[], Any], what: str, seconds: float) -> Any:
        """Poll `condition` until it returns something truthy; fail naming `what`."""
        started = time.monotonic()
        deadline = started + seconds
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                pytest.fail(f"dagster dev exited ({code}) waiting for {what}:\n{self.log_tail()}")
            value = condition()
            if value:
                # Shown with the test's output on failure: where the minutes went.
                print(f"[e2e] {what}: {time.monotonic() - started:.0f} s", file=sys.stderr)
                return value
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {seconds:.0f} s waiting for {what}\n{self.log_tail()}"
                )
            time.sleep(0.5)

    def server_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]

    def stop(self) -> None:
        """SIGTERM the whole group (webserver, daemon, code server, runs), then SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever outlived the webserver
        self.proc.wait(timeout=10)
        self._log.close()


def _location_loaded(dev: DagsterDev) -> bool:
    entries = dev.graphql(WORKSPACE)["workspaceOrError"].get("locationEntries") or []
    for entry in entries:
        loaded = entry.get("locationOrLoadError") or {}
        if loaded.get("__typename") == "PythonError":
            pytest.fail(f"the code location failed to load: {loaded['message']}")
        if entry["loadStatus"] == "LOADED" and loaded.get("__typename") == "RepositoryLocation":
            return True
    return False


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Sandbox, DagsterDev, Path, Path, list[dt.date]]]:
    today = new_york_date(dt.datetime.now(dt.UTC))
    newest = previous_session(today)  # the newest partition that exists now
    recent = sessions_between(newest - dt.timedelta(days=40), newest)
    backfill = recent[-4:-1]
    home, lake = tmp_path / "dagster_home", tmp_path / "lake"
    home.mkdir()
    (home / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML.read_text())
    with Sandbox(
        tickers=30,
        seed=5,
        plan="paid",
        start=recent[-12],
        end=newest,
        now=flat_file_available_at(newest) - dt.timedelta(minutes=1),
        cache_dir=tmp_path / "market_cache",
    ) as sb:
        env = {
            **os.environ,
            **sb.env(),
            "DAGSTER_HOME": str(home),
            "FINANCE_PIPELINE_LAKE": str(lake),
            "FINANCE_PIPELINE_FLAT_FILE_WINDOW_SESSIONS": "1",
            "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL": "5",
            # One evaluation at start-up, then none during the test: curated runs triggered by
            # the backfill would only compete with it for the run queue here.
            "FINANCE_PIPELINE_AUTOMATION_INTERVAL": "3600",
            "PYTHONUNBUFFERED": "1",
        }
        dev = DagsterDev(env, tmp_path / "dagster_dev.log")
        try:
            yield sb, dev, home, lake, [*backfill, newest]
        finally:
            dev.stop()


def test_backfill_sensor_and_schedule_through_dagster_dev(world, monkeypatch) -> None:
    sb, dev, home, lake, sessions = world
    backfill, newest = sessions[:-1], sessions[-1]
    dev.wait_for(dev.server_up, "the webserver (/server_info)", 180)
    dev.wait_for(lambda: _location_loaded(dev), "the code location to load", 180)

    # 1. A partition backfill launched like the UI does.
    keys = [d.isoformat() for d in backfill]
    launched = dev.graphql(
        LAUNCH_BACKFILL,
        {
            "backfillParams": {
                "partitionNames": keys,
                "assetSelection": [{"path": [a]} for a in BACKFILLED_ASSETS],
                "title": "end-to-end test backfill",
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def backfill_status() -> str | None:
        result = dev.graphql(BACKFILL_STATUS, {"backfillId": backfill_id})
        status = result["partitionBackfillOrError"].get("status")
        return status if status in FINISHED else None

    status = dev.wait_for(backfill_status, f"backfill {backfill_id} to finish", 420)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), f"{status}\n{dev.log_tail()}"

    with dg.DagsterInstance.from_config(str(home)) as instance:
        for asset in BACKFILLED_ASSETS:
            stored = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert set(keys) <= stored, asset
            for key in keys:
                assert (lake / asset / f"session={key}" / "part-0.parquet").is_file()
        # The checks that run with a materialization recorded their results.
        for asset in BACKFILLED_ASSETS:
            check = dg.AssetCheckKey(dg.AssetKey(asset), "row_count")
            history = instance.event_log_storage.get_asset_check_execution_history(check, 10)
            assert history, f"no {check.name} check result for {asset}"

        # 2. A new flat file: the daemon's sensor launches a run for it.
        sb.set_now(flat_file_available_at(newest) + dt.timedelta(minutes=1))
        head = sb.s3_client().head_object(Bucket=sb.bucket, Key=object_key("day_aggs_v1", newest))
        run_key = f"flat_file_day_aggs:{newest.isoformat()}:{head['ETag'].strip(chr(34))}"

        def sensor_run() -> dg.DagsterRun | None:
            runs = instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/sensor_name": "flat_file_sensor"})
            )
            for run in runs:
                if run.tags.get("dagster/run_key") == run_key and run.is_finished:
                    return run
            return None

        run = dev.wait_for(sensor_run, "the flat-file sensor's run to finish", 300)
        assert run.status == dg.DagsterRunStatus.SUCCESS, dev.log_tail()
        assert run.tags["dagster/partition"] == newest.isoformat()
        stored = instance.get_materialized_partitions(dg.AssetKey("flat_file_day_aggs"))
        assert newest.isoformat() in stored
        assert (lake / "flat_file_day_aggs" / f"session={newest}" / "part-0.parquet").is_file()

        # 3. A schedule tick for the night after the newest session, on the same instance.
        from finance_pipeline.definitions import defs

        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        schedule = defs.resolve_schedule_def("daily_sources_schedule")
        tick_time = dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(0, 45), NEW_YORK)
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick_time,
            repository_def=defs.get_repository_def(),
        ) as context:
            (request,) = schedule.evaluate_tick(context).run_requests
        assert request.partition_key == request.run_key == newest.isoformat()
        assert dg.AssetKey("grouped_daily_bars") in request.asset_selection

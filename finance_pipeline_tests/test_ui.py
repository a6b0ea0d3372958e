"""`finance-pipeline ui`: the Dagster UI on the demo's instance with the sandbox behind it."""

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CLI = shutil.which("finance-pipeline") or os.path.join(
    os.path.dirname(sys.executable), "finance-pipeline"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["data"]


@pytest.mark.slow
def test_ui_serves_every_asset_and_stops_its_webserver_on_sigterm(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "FLATFILES_"))}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "FINANCE_PIPELINE_LAKE": str(tmp_path / "lake")}
    command = [CLI, "ui", "--port", str(port), "--tickers", "20", "--sessions", "2"]
    ui = subprocess.Popen(command, env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        nodes = None
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                nodes = _graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
                break
            except OSError:
                time.sleep(0.5)
        assert nodes is not None, "the webserver never answered"
        keys = {node["assetKey"]["path"][-1] for node in nodes}
        assert {"grouped_daily_bars", "flat_file_day_aggs", "daily_bars", "minute_bars"} <= keys
        assert (tmp_path / "home" / "dagster.yaml").exists()
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
    # Nothing of the session is left: `dagster dev` and its webserver went down with `ui`.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _session_alive(ui.pid):
        time.sleep(0.5)
    assert not _session_alive(ui.pid)


def _session_alive(session_id: int) -> bool:
    listing = subprocess.run(["ps", "-eo", "sid=,pid="], capture_output=True, text=True).stdout
    return any(line.split()[0] == str(session_id) for line in listing.splitlines() if line.strip())


RUNS = """{ runsOrError(limit: 50) { ... on Runs { results {
  runId jobName status tags { key value } } } } }"""


@pytest.mark.slow
def test_ui_market_lives_and_the_flat_file_sensor_launches_a_run(tmp_path):
    """In `ui` the sandbox clock runs: the newest session's flat files, not yet out at start,
    publish as the clock passes 11:00 New York, and the flat-file sensor launches their runs."""
    from finance_pipeline.calendar import recent_sessions

    port = _free_port()
    newest = recent_sessions(datetime.datetime.now(datetime.UTC), 2)[-1].isoformat()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "FLATFILES_"))}
    env |= {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "FINANCE_PIPELINE_LAKE": str(tmp_path / "lake"),
        "FINANCE_PIPELINE_SANDBOX_SPEED": "600",  # 08:00 -> 11:00 New York in 18 s
        "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL": "5",
    }
    command = [CLI, "ui", "--port", str(port), "--tickers", "20", "--sessions", "2"]
    ui = subprocess.Popen(command, env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        launched: list[dict] = []
        while not launched:
            assert ui.poll() is None, f"ui exited with {ui.returncode}"
            assert time.monotonic() < deadline, f"no flat-file run for {newest} launched"
            try:
                runs = _graphql(port, RUNS)["runsOrError"]["results"]
            except (OSError, KeyError, TypeError):
                runs = []
            launched = [
                r
                for r in runs
                if {"key": "finance_pipeline/session", "value": newest} in r["tags"]
                and r["jobName"] == "flat_files_job"
            ]
            time.sleep(1)  # the pace of polling a live server, not a wait for a result
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)

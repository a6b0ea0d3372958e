"""Interrupts: Ctrl-C or SIGTERM stops `finance-pipeline backfill --in-process` as a whole, and
`finance-pipeline ui` takes down every process it started.

Backfill: a ten-session plan (two grouped-daily runs) whose first grouped-daily request the
sandbox holds unanswered; once the sandbox has taken that request (the first run is in progress)
the signal goes to the CLI process or, as a terminal's Ctrl-C does, to its whole process group.
The CLI must exit 130 with one "interrupted" line and no traceback, no run may start after the
signal, and every partition file in the lake must be whole. UI: `ui` with its sandbox, `dagster
dev`, webserver, daemon and code server; after SIGTERM (or SIGINT to the group) none of them is
left."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from finance_pipeline_tests.reliability.cli_runs import CONTRACT, ERROR_PREFIX
from finance_pipeline_tests.reliability.figures import REGISTRY
from finance_pipeline_tests.reliability.support import PART, poll, readable

CLI = str(Path(sys.executable).with_name("finance-pipeline"))
# More sessions than one grouped-daily run holds (its SESSIONS_PER_RUN): two runs at least.
SESSIONS = ("2025-01-02", "2025-01-16")
HOW = {
    "SIGINT to the process": (signal.SIGINT, False),
    "SIGTERM to the process": (signal.SIGTERM, False),
    "SIGINT to the process group (Ctrl-C)": (signal.SIGINT, True),
}


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """`finance-pipeline ARGS` in its own process group, with exactly `env` for the contract."""
    base = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    return subprocess.Popen(
        [CLI, *args],
        env={**base, **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        process_group=0,
    )


def _send(proc: subprocess.Popen, sig: int, group: bool) -> None:
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


@pytest.mark.parametrize("how", list(HOW))
def test_a_signal_stops_the_whole_backfill(sb, tmp_path, how, figure):
    sig, group = HOW[how]
    figure.category, figure.scenario = "interrupts", f"backfill --in-process: {how}"
    home, lake = tmp_path / "dagster_home", tmp_path / "lake"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    REGISTRY.add_path(home)
    # No flat-file key: every session goes to grouped daily, whose first request hangs.
    env = {**sb.env(), "FLATFILES_ACCESS_KEY_ID": "", "DAGSTER_HOME": str(home)}
    env["FINANCE_PIPELINE_LAKE"] = str(lake)
    sb.faults.hang(count=1, endpoint="grouped_daily")
    proc = _start(["backfill", *SESSIONS, "--in-process", "--yes"], env, tmp_path)
    try:
        poll(lambda: sb.faults.pending_transport() == 0, 240, "the first run's request")
        runs_at_signal = len(_runs(home))
        _send(proc, sig, group)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    REGISTRY.add_text(f"backfill interrupted ({how})", out + err)
    runs = _runs(home)
    files = sorted(lake.rglob(PART)) if lake.exists() else []
    whole = all(readable(path) for path in files)
    errors = [line for line in err.splitlines() if line.startswith(ERROR_PREFIX)]
    figure.faults_injected += 1
    figure.runs += 1
    figure.partitions_checked += len(files)
    figure.partitions_corrupted += sum(not readable(path) for path in files)
    held = (
        proc.returncode == 130
        and len(errors) == 1
        and "interrupted" in errors[0]
        and "Traceback" not in out + err
        and len(runs) == runs_at_signal == 1
        and whole
    )
    figure.runs_failed_clearly += int(held)

    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "Traceback" not in out + err, err
    assert len(errors) == 1 and "interrupted after 1 of" in errors[0], err
    assert runs_at_signal == 1 and len(runs) == 1, [r.run_id for r in runs]  # none started after
    assert runs[0].status == dg.DagsterRunStatus.FAILURE  # stopped, not left STARTED
    assert whole
    assert held


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live descendant of `pid`."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True)
    children: dict[int, list[tuple[int, str]]] = {}
    for line in table.stdout.splitlines():
        child, parent, *args = line.split(maxsplit=2)
        children.setdefault(int(parent), []).append((int(child), " ".join(args)))
    found, todo = {}, [pid]
    while todo:
        for child, args in children.get(todo.pop(), []):
            if child not in found:
                found[child] = args
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as page:
            return "dagster_webserver_version" in json.load(page)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM to the process", "SIGINT to the process group (Ctrl-C)"])
def test_ui_stops_every_process_it_started(tmp_path, how, figure):
    sig, group = HOW[how]
    figure.category, figure.scenario = "interrupts", f"ui: {how}"
    port = _free_port()
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "FINANCE_PIPELINE_LAKE": str(tmp_path / "lake")}
    args = ["ui", "--port", str(port), "--tickers", "20", "--sessions", "2"]
    ui = _start(args, env, tmp_path)
    try:
        # The signal comes as soon as the webserver and daemon processes exist (still starting).
        started = poll(
            lambda: (
                (d := _descendants(ui.pid))
                and any("dagster._daemon" in a for a in d.values())
                and any("dagster_webserver" in a for a in d.values())
                and d
            ),
            300,
            "the daemon and the webserver",
            0.2,
        )
        _send(ui, sig, group)
        ui.communicate(timeout=120)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.communicate()
    left = poll(
        lambda: [p for p in started if _alive(p)] or "none", 60, "the processes to end", 0.5
    )
    left = [] if left == "none" else left
    figure.faults_injected += 1
    figure.runs += 1
    figure.runs_failed_clearly += int(not left)
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)

    assert len(started) >= 3, started  # dagster dev, webserver, daemon (and code servers)
    assert not left, {p: started[p] for p in left}

"""kill -9 while a partition is written, and two runs writing one partition at once.

Real processes (`writer.py`) write large partitions through `Lake.write` or through a Dagster
run and the project's ParquetIOManager. The parent kills them with SIGKILL at random points and
right when a temporary file appears (mid-write). After every kill the visible file must be one
of the complete versions (the last finished one, or the one being written if the rename had
happened), temporary files must be invisible to readers, and a rerun must complete.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse
from finance_pipeline_tests.reliability import writer
from finance_pipeline_tests.reliability.figures import REGISTRY, digest
from finance_pipeline_tests.reliability.support import (
    file_digest,
    part_file,
    poll,
    readable,
    spawn_python,
)

ROWS = 150_000
KILLED = dt.date(2025, 1, 15)  # rewritten again and again, killed at random points
FRESH = dt.date(2025, 1, 22)  # first writes of successive sessions, killed mid-write
RUN_KILLED = dt.date(2025, 1, 17)  # a Dagster run killed mid-write
RACED = dt.date(2025, 1, 21)  # two Dagster runs at once
RANDOM_KILLS = 2
STARTUP = 180.0  # seconds a child may take to import and build its tables on a busy machine


class Writer:
    """A writer child; its stdout lines are collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = spawn_python("finance_pipeline_tests.reliability.writer", *args)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []  # stderr, read all along so the child never blocks on it
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self._error_thread = threading.Thread(target=self._pump_errors, daemon=True)
        self._error_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def _pump_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    def wait_line(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    raise AssertionError(self._why(f"no {what}")) from None
                if time.monotonic() > deadline:
                    raise AssertionError(self._why(f"timed out waiting for {what}")) from None
                continue
            self.seen.append(line)
            if predicate(line):
                return line

    def drain(self) -> list[str]:
        """Every line so far; once the child has exited, every line it ever wrote."""
        if self.proc.poll() is not None:
            self._pump_thread.join(timeout=30)  # EOF: the pipes are read to their end
            self._error_thread.join(timeout=30)
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def _why(self, message: str) -> str:
        if self.proc.poll() is not None:
            self.drain()
            tail = "".join(self.errors[-40:])
            message += f"; the writer exited {self.proc.returncode}: {tail}"
        return message

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.drain()

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self.drain()
        return code

    def last(self, kind: str) -> int | None:
        """The version of the last `begin`/`done` line, or None."""
        found = [int(line.split()[1]) for line in self.seen if line.startswith(kind + " ")]
        return found[-1] if found else None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.drain()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Children:
    """Writer children, closed (and their stderr kept for the secret sweep) at the end."""

    def __init__(self) -> None:
        self.started: list[Writer] = []

    def __call__(self, *args: str) -> Writer:
        child = Writer(*args)
        self.started.append(child)
        return child

    def close(self) -> None:
        for child in self.started:
            child.close()
            REGISTRY.add_text(f"writer {child.proc.pid} stdout", "\n".join(child.seen))
            REGISTRY.add_text(f"writer {child.proc.pid} stderr", "".join(child.errors))


@pytest.fixture
def writers():
    children = Children()
    yield children
    children.close()


def _dagster_home(path: Path) -> Path:
    """A Dagster instance directory, its storage created here: processes that all open a
    brand-new SQLite instance at once race to create its tables."""
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dg.DagsterInstance.from_config(str(path)).dispose()
    REGISTRY.add_path(path)
    return path


@pytest.fixture(scope="module")
def dagster_children(tmp_path_factory):
    """The Dagster writers, started first so their imports overlap the Lake test."""
    root = tmp_path_factory.mktemp("crash-dagster")
    REGISTRY.add_path(root / "lake")
    home = _dagster_home(root / "dagster_home")
    lake = str(root / "lake")
    args = ["--rows", str(ROWS), "--dagster", str(home)]
    children = Children()
    started = {
        "looping": children(lake, RUN_KILLED.isoformat(), *args, "--versions", "1,2", "--loop"),
        "racers": [
            children(lake, RACED.isoformat(), *args, "--versions", f"{v},{v}") for v in (11, 12)
        ],
    }
    yield {"lake": root / "lake", "home": home, "scratch": root / "scratch", **started}
    children.close()


def expected_digests(tmp: Path, session: dt.date, versions: list[int]) -> dict[int, str]:
    """The bytes every complete version has, written in this process (writes are
    deterministic, so the children produce exactly these)."""
    lake = Lake(str(tmp))
    found = {}
    for version in versions:
        result = lake.write(writer.DATASET, session, writer.table(session, ROWS, version))
        found[version] = file_digest(Path(result.uri))
    return found


def temp_files(lake_root: Path) -> list[Path]:
    return sorted(p for p in lake_root.rglob("*") if p.is_file() and p.name.endswith(".tmp"))


def temp_in(directory: Path) -> bool:
    return directory.is_dir() and any(p.name.endswith(".tmp") for p in directory.iterdir())


def warehouse_rows(lake: Lake) -> int:
    """The rows the DuckDB warehouse sees in the dataset's view (bookkeeping kept in memory)."""
    with Warehouse(lake, database=":memory:") as warehouse:
        table = warehouse.query(f"select count(*) as n from {writer.DATASET}")
    return table.column("n")[0].as_py()


def test_kill_9_mid_write_never_exposes_a_partial_partition(
    tmp_path, writers, dagster_children, figure
):
    figure.category, figure.scenario = "crash", "SIGKILL of Lake writers mid-write"
    lake_root = tmp_path / "lake"
    REGISTRY.add_path(lake_root)
    want = expected_digests(tmp_path / "scratch", KILLED, [1, 2, 3])
    rng = random.Random(20250115)
    base = [str(lake_root), KILLED.isoformat(), "--rows", str(ROWS), "--versions", "1,2,3"]
    # Started together, so their imports overlap; each waits for "go".
    loopers = [writers(*base, "--loop") for _ in range(RANDOM_KILLS + 1)]
    fresh = writers(
        str(lake_root), FRESH.isoformat(), "--rows", str(ROWS), "--versions", "1", "--fresh", "30"
    )
    for child in [*loopers, fresh]:
        child.wait_line(lambda line: line == "ready", STARTUP, "the writer to be ready")

    partition = part_file(lake_root, writer.DATASET, KILLED)
    last_done: int | None = None
    verdicts: list[bool] = []
    for round_, child in enumerate(loopers):
        child.go()
        if round_ == 0:
            # Mid-write for sure: the temporary file exists, the rename has not happened.
            child.wait_line(lambda line: line.startswith("done"), 120, "a first complete write")
            poll(lambda: temp_in(partition.parent), 120, "a temporary file", interval=0.001)
        else:
            # A random point of the write cycle (serialize, temp file, fsync, rename).
            child.wait_line(lambda line: line.startswith("begin"), 120, "a write to begin")
            time.sleep(rng.uniform(0.0, 1.0))  # picks the kill point; waits for nothing
        child.kill()
        figure.faults_injected += 1
        figure.runs += 1
        in_flight = child.last("begin")
        last_done = child.last("done") or last_done
        allowed = {want[v] for v in (last_done, in_flight) if v is not None}
        present = partition.is_file()
        ok = present and readable(partition) and file_digest(partition) in allowed
        figure.partitions_checked += 1
        figure.partitions_lost += int(not present and last_done is not None)
        figure.partitions_corrupted += int(present and not ok)
        verdicts.append(ok)

    # First writes of new sessions; the kill lands while one of them is a temporary file only.
    fresh.go()
    dataset_dir = lake_root / writer.DATASET

    def first_write_in_progress() -> Path | None:
        for directory in dataset_dir.glob("session=*"):
            if temp_in(directory) and not (directory / "part-0.parquet").exists():
                return directory
        return None

    torn = poll(first_write_in_progress, 120, "a first write in progress", interval=0.001)
    fresh.kill()
    figure.faults_injected += 1
    figure.runs += 1
    torn_session = dt.date.fromisoformat(torn.name.removeprefix("session="))
    finished = [
        dt.date.fromisoformat(line.split()[2]) for line in fresh.seen if line.startswith("done")
    ]
    leftovers = temp_files(lake_root)
    figure.note(f"{len(leftovers)} temporary file(s) left by killed writers, none visible")

    # Readers ignore temporary files: the lake and the warehouse see the finished partitions.
    lake = Lake(str(lake_root))
    stored = lake.stored_sessions(writer.DATASET)
    torn_visible = lake.exists(writer.DATASET, torn_session)
    rows_seen = warehouse_rows(lake)

    # The rerun of the torn session completes.
    rerun = lake.write(writer.DATASET, torn_session, writer.table(torn_session, ROWS, 3))
    figure.runs_recovered += int(rerun.changed and readable(Path(rerun.uri)))
    figure.partitions_checked += 1

    assert all(verdicts), verdicts
    assert leftovers, "no writer was killed while its temporary file existed"
    assert not torn_visible and torn_session not in stored
    assert stored == sorted([KILLED, *finished])
    assert rows_seen == ROWS * len(stored)
    assert lake.stored_sessions(writer.DATASET) == sorted([KILLED, *finished, torn_session])
    assert warehouse_rows(lake) == ROWS * (len(stored) + 1)
    assert temp_files(lake_root) == leftovers  # left for an operator, never read


def test_kill_9_of_a_dagster_run_mid_write_and_the_rerun(dagster_children, figure):
    figure.category, figure.scenario = "crash", "SIGKILL of a Dagster run mid-write, then rerun"
    lake_root, home = dagster_children["lake"], dagster_children["home"]
    want = expected_digests(dagster_children["scratch"], RUN_KILLED, [1, 2])
    looping = dagster_children["looping"]
    looping.wait_line(lambda line: line == "ready", STARTUP, "the Dagster writer to be ready")

    partition = part_file(lake_root, writer.DATASET, RUN_KILLED)
    looping.go()
    looping.wait_line(lambda line: line.startswith("done 1"), 120, "the first run to finish")
    poll(lambda: temp_in(partition.parent), 120, "the second run's temporary file", 0.001)
    looping.kill()
    figure.faults_injected += 1
    figure.runs += 1
    survived = partition.is_file() and file_digest(partition) in {want[1], want[2]}
    figure.partitions_checked += 1
    figure.partitions_corrupted += int(not survived)

    # The rerun: a new run of the same partition on the same instance, in this process.
    tables = {2: writer.table(RUN_KILLED, ROWS, 2)}
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        asset = writer.dagster_asset(tables)
        rerun = writer.materialize_version(asset, instance, str(lake_root), RUN_KILLED, 2)
        statuses = [run.status for run in instance.get_runs()]
        materialized = instance.get_materialized_partitions(dg.AssetKey(writer.DATASET))
    figure.runs_recovered += int(rerun.success)
    figure.note(f"run statuses after the kill and the rerun: {sorted(s.value for s in statuses)}")

    assert survived
    assert rerun.success
    assert file_digest(partition) == want[2]
    assert statuses[0] == dg.DagsterRunStatus.SUCCESS  # newest first: the rerun
    assert dg.DagsterRunStatus.SUCCESS in statuses[1:]  # the killed process's first run
    assert RUN_KILLED.isoformat() in materialized
    assert Lake(str(lake_root)).stored_sessions(writer.DATASET) == [RUN_KILLED]


def test_two_runs_writing_one_partition_at_once_one_wins_whole(dagster_children, figure):
    figure.category, figure.scenario = "concurrency", "two Dagster runs write one partition"
    lake_root = dagster_children["lake"]
    want = expected_digests(dagster_children["scratch"], RACED, [11, 12])
    racers = dagster_children["racers"]
    for child in racers:
        child.wait_line(lambda line: line == "ready", STARTUP, "the Dagster writer to be ready")

    partition = part_file(lake_root, writer.DATASET, RACED)
    seen: list[str] = []
    stop = threading.Event()

    def read_while_they_write() -> None:
        while not stop.is_set():
            try:
                with open(partition, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                time.sleep(0.001)
                continue
            seen.append(digest(data))

    reader = threading.Thread(target=read_while_they_write, daemon=True)
    reader.start()
    for child in racers:
        child.go()
    codes = [child.finish(timeout=240) for child in racers]
    stop.set()
    reader.join(timeout=30)
    figure.faults_injected += 1  # the race itself
    figure.runs += 2
    figure.runs_recovered += sum(code == 0 for code in codes)
    final = file_digest(partition)
    mixed = [d for d in seen if d not in want.values()]
    figure.partitions_checked += 1 + len(seen)
    figure.partitions_corrupted += len(mixed) + int(final not in want.values())
    figure.note(f"{len(seen)} reads during the race, {len(set(seen))} distinct version(s) seen")

    assert codes == [0, 0]
    assert final in want.values()
    assert mixed == []
    assert pq.read_table(partition).num_rows == ROWS
    assert temp_files(lake_root / writer.DATASET / f"session={RACED}") == []

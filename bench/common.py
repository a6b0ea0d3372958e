"""What every benchmark shares: sizes (full and smoke), the machine note, figures, worker
subprocesses, in-worker measurement and the sandbox.

Rules every figure keeps (the project's brief): speed is a RATIO against a baseline measured in
the same run (machines are shared and noisy), the machine is noted, and each figure says how it
was measured, its target and whether the target is met.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import platform
import queue
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SCRATCH = BENCH_DIR / ".scratch"

# Every figure key a complete results file carries (the CI smoke test checks them all).
FIGURE_KEYS: tuple[str, ...] = (
    "b1_grouped_daily_calls",
    "b1_flat_file_calls",
    "b1_per_ticker_yearly_calls",
    "b1_universe_discovery_calls",
    "b2_rate_limit_alone",
    "b2_rate_limit_parallel",
    "b3_ingest_vs_duckdb",
    "b3_ingest_vs_gunzip",
    "b3_ingest_peak_memory_vs_duckdb",
    "b3_ingest_vs_pandas",
    "b4_dagster_vs_raw_loop",
    "b4_dagster_vs_raw_loop_postgres",
    "b5_ticker_history_p50",
    "b5_cross_section_p50",
    "b5_adjusted_view_p50",
    "b6_old_vs_new_wall",
    "extrapolation_cpu_hours",
    "b8_minute_ticker_year",
    "b8_minute_cross_section",
    "b8_minute_resample_month",
    "b7_celery_rate_limit_1_worker",
    "b7_celery_rate_limit_3_workers",
    "b7_utilization_1_worker",
    "b7_utilization_3_workers",
    "b7_minute_files_2_workers",
    "b9_daemon_sessions_per_hour",
    "b9_daemon_wall_per_session",
    "b9_daemon_history_hours",
)
# Groups `--smoke` leaves out unless asked for with --only: B7 starts Celery workers, and CI
# runs its harness already (finance_pipeline_tests/distributed/test_celery_workers.py); B9
# waits for a real daemon (~80 s: its backfill loop looks every 30 s), and
# test_bench_smoke.py runs it on its own.
SMOKE_SKIPPED_GROUPS: tuple[str, ...] = ("b7", "b9")
FIGURE_FIELDS = ("title", "value", "unit", "baseline", "ratio", "target", "target_met", "how")

# The sandbox's year: 252 NYSE sessions, clock after every flat file of it was published.
YEAR_START = dt.date(2024, 1, 2)
YEAR_END = dt.date(2024, 12, 31)
YEAR_NOW = dt.datetime(2025, 1, 6, 17, 0, tzinfo=dt.UTC)
MINUTE_SESSION = dt.date(2024, 6, 14)
SEED = 7


@dataclass(frozen=True)
class Sizes:
    """Every size knob; `--smoke` shrinks them all so the whole suite runs in < 60 s."""

    mode: str
    market_tickers: int  # the whole market (10,000 gives a ~1.8M-row minute session)
    sessions: int  # sessions of the benchmark year (252 = one NYSE year)
    index_tickers: int  # the "S&P 500" the old path fetches
    old_session_sample_tickers: int  # B1: tickers sent one call per session (all sessions)
    old_yearly_sample_tickers: int  # B1: tickers sent one call for the whole year (all: 500)
    b2_sessions: int  # K
    b2_limit: int  # L requests ...
    b2_window_seconds: float  # ... per W seconds (compressed)
    b2_processes: int
    b3_repeats: int
    b4_sessions: int
    b6_limit: int
    b6_window_seconds: float  # the plan's 5/min compressed: `b6_limit` per this many seconds
    b6_old_sample_calls: int
    b5_tickers: int  # bench_reads' synthetic daily lake: tickers x years
    b5_years: int
    b5_reps: int
    b7_sessions: int  # K grouped-daily sessions on Celery workers ...
    b7_limit: int  # ... under L requests ...
    b7_window_seconds: int  # ... per W whole seconds (compressed; the variable is whole)
    b7_minute_sessions: int  # whole-market minute flat-file sessions (CPU-bound)
    b8_tickers: int  # the synthetic minute lake: tickers x sessions, reads repeated b8_reps
    b8_sessions: int
    b8_reps: int
    b9_sessions: int  # whole-market minute sessions backfilled through dagster-daemon
    profile: bool  # also run B3's product path and B4's Dagster path under cProfile


FULL = Sizes(
    mode="full",
    market_tickers=10_000,
    sessions=252,
    index_tickers=500,
    old_session_sample_tickers=10,
    old_yearly_sample_tickers=500,
    b2_sessions=60,
    b2_limit=10,
    b2_window_seconds=5.0,
    b2_processes=4,
    b3_repeats=3,
    b4_sessions=252,
    b6_limit=5,
    b6_window_seconds=1.0,
    b6_old_sample_calls=250,
    b5_tickers=10_000,
    b5_years=10,
    b5_reps=50,
    b7_sessions=40,
    b7_limit=10,
    b7_window_seconds=6,
    b7_minute_sessions=4,
    b8_tickers=2_000,
    b8_sessions=252,
    b8_reps=20,
    b9_sessions=20,
    profile=True,
)

SMOKE = Sizes(
    mode="smoke",
    market_tickers=300,
    sessions=10,
    index_tickers=50,
    old_session_sample_tickers=3,
    old_yearly_sample_tickers=3,
    b2_sessions=10,
    b2_limit=5,
    b2_window_seconds=0.5,
    b2_processes=4,
    b3_repeats=1,
    b4_sessions=10,
    b6_limit=5,
    b6_window_seconds=0.5,
    b6_old_sample_calls=10,
    b5_tickers=200,
    b5_years=1,
    b5_reps=5,
    b7_sessions=6,
    b7_limit=3,
    b7_window_seconds=1,
    b7_minute_sessions=2,
    b8_tickers=60,
    b8_sessions=10,
    b8_reps=3,
    b9_sessions=2,
    profile=False,
)


def year_sessions(count: int) -> list[dt.date]:
    """The first `count` sessions of the benchmark year."""
    from finance_pipeline.calendar import sessions_between

    sessions = sessions_between(YEAR_START, YEAR_END)
    if count > len(sessions):
        raise ValueError(f"asked for {count} sessions; the benchmark year has {len(sessions)}")
    return sessions[:count]


# ---- the machine ---------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Platform, CPU count, python and the load average (1, 5, 15 min) right now."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("dagster", "duckdb", "pandas", "pyarrow", "polygon-api-client", "moto"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# ---- figures -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """`value <op> threshold`; op one of "<=", ">=", "<", "==" (checked on the ratio or value)."""

    op: str
    threshold: float
    on: str = "ratio"  # "ratio" or "value"
    text: str = ""

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        subject = ratio if self.on == "ratio" else value
        if subject is None:
            return None
        checks: dict[str, Callable[[float, float], bool]] = {
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b,
            "==": lambda a, b: a == b,
        }
        return checks[self.op](subject, self.threshold)


def figure(
    title: str,
    *,
    value: float | None,
    unit: str,
    baseline: float | None,
    baseline_label: str,
    ratio: float | None,
    target: Target | None,
    how: str,
    extra_conditions: dict[str, bool] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One figure of results.json. `target_met` is None when the figure has no target;
    `extra_conditions` (e.g. "0 429s") must all hold as well."""
    met = target.met(value, ratio) if target is not None else None
    conditions = dict(extra_conditions or {})
    if met is not None and conditions:
        met = met and all(conditions.values())
    return {
        "title": title,
        "value": _round(value),
        "unit": unit,
        "baseline": _round(baseline),
        "baseline_label": baseline_label,
        "ratio": _round(ratio),
        "target": target.text if target else None,
        "target_met": met,
        "conditions": conditions,
        "how": how,
        "details": details or {},
    }


def _round(value: float | None) -> float | None:
    if value is None or isinstance(value, int):
        return value
    return round(float(value), 4 if abs(value) < 10 else 2)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


# ---- measuring inside a worker -------------------------------------------------------------
def _status_bytes(field: str) -> int:
    """A memory figure of /proc/self/status (VmRSS, VmHWM) in bytes; 0 where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Measurement:
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system of this process (all its threads)
    rss_before_bytes: int = 0
    peak_rss_bytes: int = 0  # the process's resident high-water mark at the end

    @property
    def peak_over_start_bytes(self) -> int:
        return max(0, self.peak_rss_bytes - self.rss_before_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_over_start_bytes": self.peak_over_start_bytes}


@contextmanager
def measured() -> Iterator[Measurement]:
    """Wall, CPU and peak memory of the block. Run it in a fresh worker process (see
    `in_worker`), so the high-water mark belongs to the block and not to earlier work."""
    result = Measurement(rss_before_bytes=_status_bytes("VmRSS"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    began = time.perf_counter()
    try:
        yield result
    finally:
        result.wall_seconds = time.perf_counter() - began
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result.cpu_seconds = usage.ru_utime + usage.ru_stime - cpu0
        result.peak_rss_bytes = _status_bytes("VmHWM") or usage.ru_maxrss * 1024


# ---- worker processes --------------------------------------------------------------------------
# Workers are forked from one forkserver that imported these once: a worker starts in
# milliseconds instead of paying Dagster's import again, and measures only its own work.
PRELOAD = [
    "bench.common",
    "finance_pipeline.clients",
    "finance_pipeline.assets",
    "finance_pipeline.lake",
    "dagster_aws.s3",
    "duckdb",
    "pyarrow.csv",
    "pyarrow.parquet",
]
_context: Any = None


def worker_context() -> Any:
    """The multiprocessing context of every benchmark worker (a preloaded forkserver)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def noop() -> bool:
    """A worker that does nothing (starts the forkserver early)."""
    return True


def _trampoline(answers: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        answers.put(("ok", function(*args)))
    except BaseException:
        answers.put(("error", traceback.format_exc()))


def start_worker(function: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """Start `function(*args)` in a fresh worker process; returns (process, answer queue)."""
    context = worker_context()
    answers = context.Queue()
    process = context.Process(target=_trampoline, args=(answers, function, args), daemon=True)
    process.start()
    return process, answers


def worker_result(process: Any, answers: Any, what: str, timeout: float = 1800) -> Any:
    """The return value of a started worker; its traceback as an error if it raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, value = answers.get(timeout=0.2)
            break
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(
                    f"benchmark worker {what} died (exit code {process.exitcode})"
                ) from None
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"benchmark worker {what} took over {timeout:.0f}s") from None
    process.join(30)
    if status != "ok":
        raise RuntimeError(f"benchmark worker {what} failed:\n{value}")
    return value


def profiled(function: Callable[..., Any], *args: Any, top: int = 12) -> list[str]:
    """Run `function(*args)` under cProfile (in a worker); the `top` entries by own time."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(function, *args)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = []
    for (path, line, name), (_, calls, own, cumulative, _) in rows:
        where = path.split("site-packages/")[-1].removeprefix(str(REPO) + "/")
        lines.append(f"{own:.2f}s own, {cumulative:.2f}s cum, {calls}x {where}:{line}({name})")
    return lines


def in_worker(function: Callable[..., Any], *args: Any, what: str, timeout: float = 1800) -> Any:
    """Run `function(*args)` in a fresh worker process and return its result."""
    process, answers = start_worker(function, *args)
    return worker_result(process, answers, what, timeout)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll `condition` until it holds; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


# ---- the sandbox -----------------------------------------------------------------------------
def open_sandbox(sizes: Sizes, **overrides: Any) -> Any:
    """A started paid-plan sandbox over the benchmark year (close it, or use `with`)."""
    from finance_pipeline.sandbox import Sandbox

    params: dict[str, Any] = {
        "tickers": sizes.market_tickers,
        "seed": SEED,
        "start": YEAR_START,
        "end": YEAR_END,
        "now": YEAR_NOW,
        "cache_dir": SCRATCH / "sandbox_cache",
        **overrides,
    }
    return Sandbox(**params).open()


def flat_file_access(sandbox: Any) -> dict[str, str]:
    """What a worker needs to reach the sandbox's flat files (handed over the worker pipe)."""
    return {
        "endpoint_url": sandbox.s3_endpoint_url,
        "access_key_id": sandbox.s3_access_key_id,
        "secret_access_key": sandbox.s3_secret_access_key,
        "bucket": sandbox.bucket,
    }


def s3_client(access: dict[str, str]) -> Any:
    """A boto3 S3 client for `flat_file_access` values."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=access["endpoint_url"],
        aws_access_key_id=access["access_key_id"],
        aws_secret_access_key=access["secret_access_key"],
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )


def flat_files_client(access: dict[str, str]) -> Any:
    """The product's FlatFilesClient for `flat_file_access` values."""
    from finance_pipeline.clients import FlatFilesClient

    return FlatFilesClient(
        s3_client(access), bucket=access["bucket"], secrets=[access["secret_access_key"]]
    )


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block, the previous values (or their absence) restored."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

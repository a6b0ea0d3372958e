"""Fixtures of the fault suite, and the hook that writes docs/reliability.{json,md}.

- `rel_sandbox` (session): this suite's own 60-ticker sandbox (faults are injected, so it is not
  the shared read-only `sandbox`); `sb` hands it to one test with the environment contract
  pointing at it and clears every fault afterwards.
- `rel_instance` (session): a real Dagster instance (SQLite event log, compute logs) in a temp
  directory; every in-process run of the suite goes there and the final secret sweep scans it.
- `figure`: the test's `figures.Record`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.conftest import SANDBOX_DEFAULTS
from finance_pipeline_tests.reliability import figures
from finance_pipeline_tests.reliability.figures import REGISTRY, Record

HERE = Path(__file__).parent


def register_sandbox(sb: Sandbox) -> None:
    REGISTRY.add_secret("sandbox POLYGON_API_KEY", sb.api_key)
    REGISTRY.add_secret("sandbox FLATFILES_SECRET_ACCESS_KEY", sb.s3_secret_access_key)


class _Collect(logging.Handler):
    """Keeps every log record of the session (formatted) for the final secret sweep."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot format is not worth failing a test over
            self.lines.append(str(record.msg))


@pytest.fixture(scope="session")
def captured_logs() -> Iterator[_Collect]:
    """Every log record emitted during this suite's tests (root and dagster loggers), for the
    secret scans; attached around each test of this package only (`_capture`)."""
    handler = _Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    yield handler
    REGISTRY.add_text("log records of the test process", "\n".join(handler.lines))


@pytest.fixture(autouse=True)
def _capture(captured_logs: _Collect) -> Iterator[None]:
    loggers = [logging.getLogger(), logging.getLogger("dagster")]
    for logger in loggers:
        logger.addHandler(captured_logs)
    yield
    for logger in loggers:
        logger.removeHandler(captured_logs)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Iterator[Record]:
    entry = REGISTRY.record(request.node.nodeid)
    started = time.monotonic()
    yield entry
    entry.seconds = round(time.monotonic() - started, 2)


@pytest.fixture(scope="session")
def rel_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    cache = tmp_path_factory.mktemp("reliability-market-cache")
    with Sandbox(**{**SANDBOX_DEFAULTS, "tickers": 60}, cache_dir=cache) as sb:
        register_sandbox(sb)
        yield sb


@pytest.fixture
def sb(rel_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    for name, value in rel_sandbox.env().items():
        monkeypatch.setenv(name, value)
    yield rel_sandbox
    rel_sandbox.faults.clear()


@pytest.fixture(scope="session")
def rel_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    home = tmp_path_factory.mktemp("reliability-dagster-home")
    REGISTRY.add_path(home)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture(scope="session")
def limiter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-limiter")


# ----------------------------------------------------------------------------- hooks


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The outcome of each test goes on its record (a setup error counts as failed)."""
    for entry in REGISTRY.records:
        if entry.nodeid != report.nodeid:
            continue
        if hasattr(report, "wasxfail"):
            entry.outcome = "xpassed" if report.passed else "xfailed"
        elif report.failed:
            entry.outcome = "failed"
        elif report.when == "call":
            entry.outcome = "passed" if report.passed else report.outcome


FIGURES_ENV = "FINANCE_PIPELINE_RELIABILITY_FIGURES"


def _whole_suite_ran(session: pytest.Session) -> bool:
    here = Path(__file__).parent
    modules = {path.name for path in here.glob("test_*.py")}
    ran = {
        Path(str(item.fspath)).name
        for item in session.items
        if Path(str(item.fspath)).parent == here
    }
    return modules <= ran


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Sum up the figures when the whole fault suite ran (every one of its test modules), and
    publish them to the directory FIGURES_ENV names (`make reliability` sets it to docs/): a
    plain `make test` writes no tracked file, and a partial run never replaces the published
    figures with a subset."""
    if not REGISTRY.records or not _whole_suite_ran(session):
        return
    target = os.environ.get(FIGURES_ENV, "").strip()
    if target:
        docs = Path(session.config.rootpath) / target
        data = figures.write_reports(docs, REGISTRY)
        where = f"{docs}/reliability.md"
    else:
        data = figures.summary(REGISTRY)
        where = f"not published (set {FIGURES_ENV}=docs, as `make reliability` does)"
    totals = data["totals"]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"reliability figures, {where}: "
            f"{totals['faults_injected']} faults, {totals['runs_recovered']} runs recovered, "
            f"{totals['partitions_lost']} partitions lost, "
            f"{totals['partitions_corrupted']} corrupted, {totals['secrets_found']} secrets found"
        )

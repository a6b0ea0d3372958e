"""Shared pieces of the automation tests: the code location and a small paid sandbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from finance_pipeline.sandbox import Sandbox

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="session")
def repository_def() -> dg.RepositoryDefinition:
    """The real code location (run requests are resolved against its jobs and assets)."""
    from finance_pipeline.definitions import defs

    return defs.get_repository_def()


BASE_NOW = dt.datetime(2025, 1, 14, 10, tzinfo=NY)


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(
        tickers=30,
        seed=11,
        plan="paid",
        start=dt.date(2024, 12, 2),
        end=dt.date(2025, 1, 17),
        now=BASE_NOW,
        cache_dir=tmp_path_factory.mktemp("market_cache"),
    ) as sb:
        yield sb


@pytest.fixture
def paid_sandbox(module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A small paid-plan market whose clock stands on Tuesday 2025-01-14 10:00 New York:
    flat files are out up to Friday 2025-01-10 (2025-01-09 was a national day of mourning),
    Monday 2025-01-13's are due at 11:00. Faults and the clock are reset for every test, and
    the process environment points at it."""
    sb = module_sandbox
    sb.faults.clear()
    sb.set_now(BASE_NOW)
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    return sb

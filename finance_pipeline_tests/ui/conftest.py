"""One range run and one webserver serving it, shared by the GraphQL and browser tests."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pytest

from finance_pipeline.calendar import sessions_between
from finance_pipeline_tests.ui.scenario import RangeRun, run_range
from finance_pipeline_tests.ui.webserver import webserver

# Five sessions around the 2025-01-09 closure (not a session).
SESSIONS = sessions_between(dt.date(2025, 1, 6), dt.date(2025, 1, 13))


@pytest.fixture(scope="package")
def range_run(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RangeRun]:
    saved = dict(os.environ)
    try:
        yield run_range(tmp_path_factory.mktemp("ui"), sandbox.env(), SESSIONS)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="package")
def ui_url(range_run: RangeRun) -> Iterator[str]:
    with webserver(range_run.env, range_run.home.parent) as url:
        yield url

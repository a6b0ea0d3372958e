"""Lakes for the warehouse tests: an empty one, and one with daily bars for every SESSION."""

from __future__ import annotations

from pathlib import Path

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline_tests.warehouse.support import SESSIONS, bars, closes_for


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    root = tmp_path / "lake"
    root.mkdir()
    return Lake(str(root))


@pytest.fixture
def daily_lake(lake: Lake) -> Lake:
    for index, session in enumerate(SESSIONS):
        lake.write("daily_bars", session, bars(session, closes_for(index)))
    return lake

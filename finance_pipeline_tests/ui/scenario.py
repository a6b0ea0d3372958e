"""What the UI tests look at: a range run of N sessions of a flat-file asset and daily_bars,
executed by the product's in-process runner against a local instance, then served by a real
webserver."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from finance_pipeline.definitions import build_definitions
from finance_pipeline.local_instance import LOCAL_INSTANCE_YAML
from finance_pipeline.registry import DAILY_BARS, DIVIDENDS, FLAT_FILE_DAY_AGGS, SPLITS
from finance_pipeline.runs.execute import RunOutcome, execute
from finance_pipeline.runs.specs import RunSpec


@dataclass(frozen=True)
class RangeRun:
    home: Path
    lake: Path
    env: dict[str, str]
    sessions: tuple[dt.date, ...]
    outcomes: tuple[RunOutcome, ...]


def run_range(root: Path, sandbox_env: Mapping[str, str], sessions: list[dt.date]) -> RangeRun:
    """One range run of the corporate actions, one of flat_file_day_aggs, then one of
    daily_bars, over `sessions` (with their checks), into an instance at root/home and a lake
    at root/lake. Sets os.environ for the definitions (callers restore it)."""
    home, lake = root / "home", root / "lake"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML.read_text())
    env = {**sandbox_env, "DAGSTER_HOME": str(home), "FINANCE_PIPELINE_LAKE": str(lake)}
    os.environ.update(env)
    defs = build_definitions()
    span = tuple(sessions)
    # Corporate actions first, as the planner orders them: the price-jump checks read them.
    specs = [
        RunSpec((SPLITS, DIVIDENDS), span),
        RunSpec((FLAT_FILE_DAY_AGGS,), span),
        RunSpec((DAILY_BARS,), span),
    ]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        outcomes = execute(defs, instance, specs)
    assert all(o.success for o in outcomes), [o for o in outcomes if not o.success]
    return RangeRun(home, lake, env, span, tuple(outcomes))

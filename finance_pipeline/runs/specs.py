"""Cutting targets (asset -> sessions) into runs: contiguous session ranges, as few runs as the
assets' run sizes allow. Plain Python: no Dagster here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finance_pipeline.calendar import sessions_between


@dataclass(frozen=True)
class RunSpec:
    """One run: these assets (and their checks) over one contiguous range of sessions."""

    assets: tuple[str, ...]
    sessions: tuple[dt.date, ...]
    run_config: Mapping[str, Any] | None = None

    def label(self) -> str:
        first, last = self.sessions[0], self.sessions[-1]
        span = str(first) if first == last else f"{first}..{last} ({len(self.sessions)} sessions)"
        return f"{', '.join(self.assets)} {span}"


def contiguous(sessions: Sequence[dt.date]) -> list[list[dt.date]]:
    """Sorted sessions split wherever a session in between is left out (a range run covers
    every partition between its ends)."""
    ordered = sorted(set(sessions))
    if not ordered:
        return []
    position = {day: i for i, day in enumerate(sessions_between(ordered[0], ordered[-1]))}
    groups: list[list[dt.date]] = [[ordered[0]]]
    for day in ordered[1:]:
        if position[day] == position[groups[-1][-1]] + 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    return groups


def run_specs(
    targets: Mapping[str, Sequence[dt.date]],
    sessions_per_run: Mapping[str, int],
    run_config: Mapping[str, Any] | None = None,
) -> list[RunSpec]:
    """Runs covering `targets`: assets with the same sessions and run size share runs, ranges
    are cut to the run size (`sessions_per_run[asset]`, from its backfill policy)."""
    groups: dict[tuple[tuple[dt.date, ...], int], list[str]] = {}
    for asset, days in targets.items():
        if days:
            key = (tuple(sorted(set(days))), sessions_per_run[asset])
            groups.setdefault(key, []).append(asset)
    specs = []
    for (days, size), assets in groups.items():
        for block in contiguous(days):
            for i in range(0, len(block), size):
                specs.append(RunSpec(tuple(assets), tuple(block[i : i + size]), run_config))
    return specs

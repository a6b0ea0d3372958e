"""The one planner: from what is wanted to the partitions to materialize and their run config.

The CLI's backfill, the demo and the daily schedule all call `plan_runs`. It asks the router,
per request dataset, which source serves each session, maps sources to the raw assets that
fetch them (`registry.SOURCE_ASSETS`), leaves out what is stored, and adds the curated layer.
Its answer is final: the tickers it chose reach the assets in run config (`RunPlan.run_config`)
and no asset asks the router again. Plain Python: no Dagster here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finance_pipeline import router
from finance_pipeline.registry import (
    ADJUSTMENT_FACTORS,
    CORPORATE_ACTIONS,
    CURATED_ASSETS,
    CURATED_OF,
    DAILY_BARS,
    DERIVED_ASSETS,
    DIVIDENDS,
    FLAT_FILE_DAY_AGGS,
    FLAT_FILE_MINUTE_AGGS,
    GROUPED_DAILY_BARS,
    REST_FILLS,
    SECURITIES,
    SOURCE_ASSETS,
    SPLITS,
    STORED_AS,
    STORED_SOURCES,
    UNIVERSE_SNAPSHOT,
    Dataset,
    Source,
    dataset_of,
)

# The order runs execute in, as batches of assets: sources first, then the curated layer built
# from them. Assets of one batch with the same sessions and run size share runs.
BATCHES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Corporate actions first: the bars' price-jump checks read them.
    ("corporate actions", (SPLITS, DIVIDENDS)),
    ("API sources", (UNIVERSE_SNAPSHOT, GROUPED_DAILY_BARS)),
    ("REST fills (named tickers)", (REST_FILLS,)),
    ("day flat files", (FLAT_FILE_DAY_AGGS,)),
    ("minute flat files", (FLAT_FILE_MINUTE_AGGS,)),
    ("curated layer", CURATED_ASSETS),
    ("adjustment factors and security master", DERIVED_ASSETS),
)
CURATED_FROM_NAMED_TICKERS = "curated layer from per-ticker REST fills"
# Sources fetched ticker by ticker: their assets take the planned tickers in run config.
PER_TICKER_SOURCES: frozenset[Source] = frozenset({"rest"})


@dataclass(frozen=True)
class Demand:
    """One request dataset to serve: the whole market (`tickers` None) or named tickers."""

    dataset: Dataset
    tickers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Batch:
    """Assets to run together, in order, with the sessions of each."""

    title: str
    targets: dict[str, tuple[dt.date, ...]]


@dataclass(frozen=True)
class RunPlan:
    """The planner's answer: per asset the sessions to materialize, and the router's routes."""

    routes: dict[Dataset, router.Plan]
    targets: dict[str, tuple[dt.date, ...]]
    tickers: dict[str, tuple[str, ...]]
    skipped: int  # partitions left out because they are stored
    api_calls: int  # the router's quote for the raw partitions to fetch (checks not included)

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(self.targets)

    def sources(self, dataset: Dataset) -> dict[dt.date, Source]:
        """The source the router picked for each requested session of `dataset`."""
        route = self.routes.get(dataset)
        return {s.session: s.source for s in route.sessions} if route else {}

    def run_config(self, assets: Iterable[str]) -> dict[str, Any] | None:
        """Run config carrying the planned tickers to the per-ticker assets among `assets`."""
        ops = {
            asset: {"config": {"tickers": list(self.tickers[asset])}}
            for asset in assets
            if asset in self.tickers
        }
        return {"ops": ops} if ops else None

    def batches(self) -> list[Batch]:
        """The targets in execution order. Curated sessions served by per-ticker sources get a
        batch of their own: their checks must not judge them with whole-market sessions."""
        named = self._curated_from_named_tickers()
        batches = []
        for title, assets in BATCHES:
            targets = {
                a: tuple(d for d in self.targets[a] if d not in named.get(a, ()))
                for a in assets
                if a in self.targets
            }
            batches.append(Batch(title, {a: days for a, days in targets.items() if days}))
        batches.append(Batch(CURATED_FROM_NAMED_TICKERS, named))
        return [batch for batch in batches if batch.targets]

    def _curated_from_named_tickers(self) -> dict[str, tuple[dt.date, ...]]:
        named: dict[str, tuple[dt.date, ...]] = {}
        for dataset, curated in CURATED_OF.items():
            sources = self.sources(dataset)
            days = tuple(
                d for d in self.targets.get(curated, ()) if sources.get(d) in PER_TICKER_SOURCES
            )
            if days:
                named[curated] = days
        return named


def plan_runs(
    demands: Sequence[Demand],
    sessions: Sequence[dt.date],
    now: dt.datetime,
    credentials: router.Credentials,
    *,
    stored: Mapping[str, set[dt.date]] | None = None,
    force: bool = False,
    reconcile: bool = False,
    market_size: int = router.DEFAULT_MARKET_SIZE,
    bad: Mapping[str, set[dt.date]] | None = None,
) -> RunPlan:
    """Plan the runs that serve `demands` over `sessions` at `now`.

    `stored` (asset -> sessions) is what the lake already holds: a session whose stored assets
    cover its request dataset is skipped by the router, a stored raw partition is not fetched
    again; `force` fetches everything. The curated asset runs on every session a source serves.
    `reconcile` also fetches grouped daily (1 call) for sessions served by a flat file, so the
    flat files can be reconciled against it. `bad` (asset -> sessions): stored files that fail
    verification, fetched again with the curated layer of their sessions.
    """
    stored = _without_bad_sources(stored or {}, bad := _within(bad or {}, sessions))
    routes, raw, curated, tickers = _route(
        demands, sessions, now, credentials, stored, force, market_size
    )
    _add_repairs(bad, routes, raw, curated)
    curated.update(_derived(routes, curated, raw))
    if reconcile and DAILY_BARS in routes:
        extra = routes[DAILY_BARS].sessions_for("flat_file")
        raw[GROUPED_DAILY_BARS] = sorted({*raw.get(GROUPED_DAILY_BARS, []), *extra})
    todo = {
        a: [d for d in days if force or d not in stored.get(a, set())] for a, days in raw.items()
    }
    skipped = sum(len(r.skipped) for r in routes.values())
    skipped += sum(len(raw[a]) - len(days) for a, days in todo.items())
    targets = {a: tuple(sorted(set(days))) for a, days in {**todo, **curated}.items() if days}
    api_calls = _quote(routes, todo, now, credentials, market_size)
    return RunPlan(routes, targets, tickers, skipped, api_calls)


def _route(
    demands: Sequence[Demand],
    sessions: Sequence[dt.date],
    now: dt.datetime,
    credentials: router.Credentials,
    stored: Mapping[str, set[dt.date]],
    force: bool,
    market_size: int,
) -> tuple[
    dict[Dataset, router.Plan],
    dict[str, list[dt.date]],
    dict[str, list[dt.date]],
    dict[str, tuple[str, ...]],
]:
    """The router's plan per demand, and the raw and curated sessions (and per-ticker tickers)
    it implies."""
    routes: dict[Dataset, router.Plan] = {}
    raw: dict[str, list[dt.date]] = {}
    curated: dict[str, list[dt.date]] = {}
    tickers: dict[str, tuple[str, ...]] = {}
    for demand in demands:
        route = router.plan(
            router.Request(
                demand.dataset,
                sessions,
                demand.tickers,
                now,
                stored=_stored_for(demand.dataset, stored),
                force=force,
                market_size=market_size,
            ),
            credentials,
        )
        routes[demand.dataset] = route
        for planned in route.sessions:
            assets = SOURCE_ASSETS[demand.dataset].get(planned.source, ())
            for asset in assets:
                raw.setdefault(asset, []).append(planned.session)
                if planned.source in PER_TICKER_SOURCES and demand.tickers is not None:
                    tickers[asset] = demand.tickers
            if assets and demand.dataset in CURATED_OF:
                curated.setdefault(CURATED_OF[demand.dataset], []).append(planned.session)
    return routes, raw, curated, tickers


def _within(
    bad: Mapping[str, set[dt.date]], sessions: Sequence[dt.date]
) -> dict[str, set[dt.date]]:
    return {asset: set(days) & set(sessions) for asset, days in bad.items()}


def _add_repairs(
    bad: Mapping[str, set[dt.date]],
    routes: Mapping[Dataset, router.Plan],
    raw: dict[str, list[dt.date]],
    curated: dict[str, list[dt.date]],
) -> None:
    """Bad stored files of the planned datasets fetched again, with their curated sessions."""
    for asset, days in bad.items():
        dataset = _dataset_of(asset)
        if dataset in routes and days:
            if asset not in CURATED_ASSETS:
                raw.setdefault(asset, []).extend(days)
            if dataset in CURATED_OF:
                curated.setdefault(CURATED_OF[dataset], []).extend(days)


def _dataset_of(asset: str) -> Dataset | None:
    """The request dataset an asset (raw or curated) belongs to."""
    for dataset, curated in CURATED_OF.items():
        if curated == asset:
            return dataset
    try:
        return dataset_of(asset)
    except KeyError:
        return None


def _without_bad_sources(
    stored: Mapping[str, set[dt.date]], bad: Mapping[str, set[dt.date]]
) -> dict[str, set[dt.date]]:
    """`stored` less the curated sessions whose raw source file is bad (so the router plans
    them again)."""
    result = {a: set(days) for a, days in stored.items()}
    for curated, pairs in STORED_SOURCES.items():
        for _, raw in pairs:
            result.get(curated, set()).difference_update(bad.get(raw, set()))
    return result


def _derived(
    routes: Mapping[Dataset, router.Plan],
    curated: Mapping[str, list[dt.date]],
    raw: Mapping[str, list[dt.date]],
) -> dict[str, list[dt.date]]:
    """adjustment_factors reads daily bars and corporate actions: recomputed (0 API calls) on
    every session either serves, when both are demanded. securities (the whole history up to
    its session) on the last session the universe is fetched for."""
    derived: dict[str, list[dt.date]] = {}
    if raw.get(UNIVERSE_SNAPSHOT):
        derived[SECURITIES] = [max(raw[UNIVERSE_SNAPSHOT])]
    if CORPORATE_ACTIONS not in routes or DAILY_BARS not in routes:
        return derived
    served = [*curated.get(DAILY_BARS, []), *raw.get(SPLITS, [])]
    return {**derived, ADJUSTMENT_FACTORS: served} if served else derived


def _stored_for(dataset: Dataset, stored: Mapping[str, set[dt.date]]) -> frozenset[dt.date]:
    """Sessions every asset that stores `dataset` holds."""
    sets = [set(stored.get(asset, set())) for asset in STORED_AS[dataset]]
    return frozenset(set.intersection(*sets))


def _quote(
    routes: Mapping[Dataset, router.Plan],
    todo: Mapping[str, list[dt.date]],
    now: dt.datetime,
    credentials: router.Credentials,
    market_size: int,
) -> int:
    """The router's API-call quote for the raw partitions still to fetch. Grouped daily is
    quoted at one call per session whatever routed it (reconciliation adds sessions the router
    gave to flat files), the other datasets are re-planned over their remaining sessions."""
    calls = len(todo.get(GROUPED_DAILY_BARS, []))
    for dataset, route in routes.items():
        assets = {
            a
            for source, fetched in SOURCE_ASSETS[dataset].items()
            if source != "grouped_daily"
            for a in fetched
        }
        days = sorted({d for a in assets for d in todo.get(a, [])})
        if not days:
            continue
        request = router.Request(
            dataset, days, route.request.tickers, now, force=True, market_size=market_size
        )
        calls += router.plan(request, credentials).api_calls
    return calls

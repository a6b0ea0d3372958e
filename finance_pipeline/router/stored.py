"""The curated layer's choice among sources already stored in the lake.

Per bar dataset, the registry's STORED_SOURCES ranks the raw assets that can feed its curated
asset, best first; `pick_stored_source` applies that ranking to what a session has stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from finance_pipeline.registry import CURATED_OF, STORED_SOURCES, Dataset, Source
from finance_pipeline.router.model import InvalidRequest


def stored_sources(dataset: Dataset) -> tuple[tuple[Source, str], ...]:
    """(source, raw asset) pairs that can feed the curated asset of a bar dataset, best first."""
    curated = CURATED_OF.get(dataset)
    if curated is None:
        raise InvalidRequest(
            f"{dataset!r} has no stored sources to pick from; expected one of "
            f"{', '.join(CURATED_OF)}"
        )
    return STORED_SOURCES[curated]


def pick_stored_source(dataset: Dataset, available: Iterable[Source]) -> Source:
    """The best of the sources already stored for a session, or "unavailable" when none is.

    Unlike `plan`, time and credentials do not matter here: what is in the lake is final, so a
    flat file beats grouped daily (daily bars) or per-ticker REST fills (minute bars).
    """
    ranked = stored_sources(dataset)
    have = set(available)
    unknown = have - {source for source, _ in ranked}
    if unknown:
        raise InvalidRequest(
            f"{dataset} cannot be served from {', '.join(sorted(unknown))}; stored sources are "
            f"{', '.join(source for source, _ in ranked)}"
        )
    return next((source for source, _ in ranked if source in have), "unavailable")


def source_rank(dataset: Dataset, source: Source) -> int:
    """1 for the best stored source of `dataset`, 2 for the next; 0 when it cannot serve it."""
    for rank, (candidate, _) in enumerate(stored_sources(dataset), start=1):
        if candidate == source:
            return rank
    return 0

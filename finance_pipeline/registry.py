"""The dataset registry: every asset name, request dataset and source, and the maps between
them. The one module that spells an asset name; everything else imports it from here.

Three vocabularies, kept apart by name:
- an **asset** is a Dagster asset and the lake dataset (directory) that stores it;
- a **request dataset** is what a user asks the router for (`finance-pipeline plan --dataset`);
- a **source** is how the router serves a session of a request dataset.
Vendor flat-file datasets (`day_aggs_v1`, `minute_aggs_v1`) are S3 key prefixes, mapped to the
assets that load them by `FLAT_FILE_ASSET`. Plain Python: no Dagster here.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# --- Assets (= lake datasets) -------------------------------------------------------------------
UNIVERSE_SNAPSHOT: Final = "universe_snapshot"
GROUPED_DAILY_BARS: Final = "grouped_daily_bars"
FLAT_FILE_DAY_AGGS: Final = "flat_file_day_aggs"
FLAT_FILE_MINUTE_AGGS: Final = "flat_file_minute_aggs"
REST_FILLS: Final = "rest_fills"
SPLITS: Final = "splits"
DIVIDENDS: Final = "dividends"
DAILY_BARS: Final = "daily_bars"
MINUTE_BARS: Final = "minute_bars"
ADJUSTMENT_FACTORS: Final = "adjustment_factors"
SECURITIES: Final = "securities"

# Raw assets store what a source returned; curated assets pick the best stored source.
RAW_ASSETS: tuple[str, ...] = (
    UNIVERSE_SNAPSHOT,
    GROUPED_DAILY_BARS,
    REST_FILLS,
    FLAT_FILE_DAY_AGGS,
    FLAT_FILE_MINUTE_AGGS,
    SPLITS,
    DIVIDENDS,
)
CURATED_ASSETS: tuple[str, ...] = (DAILY_BARS, MINUTE_BARS)
# Derived (no `source` column): the price factors from corporate actions and daily bars, and
# the point-in-time security master from the universe snapshots.
DERIVED_ASSETS: tuple[str, ...] = (ADJUSTMENT_FACTORS, SECURITIES)
ALL_ASSETS: tuple[str, ...] = (*RAW_ASSETS, *CURATED_ASSETS, *DERIVED_ASSETS)
BAR_ASSETS: tuple[str, ...] = (
    GROUPED_DAILY_BARS,
    FLAT_FILE_DAY_AGGS,
    FLAT_FILE_MINUTE_AGGS,
    REST_FILLS,
    DAILY_BARS,
    MINUTE_BARS,
)
CORPORATE_ACTION_ASSETS: tuple[str, ...] = (SPLITS, DIVIDENDS)
# Assets whose one session file holds minute bars (hundreds of thousands of rows).
MINUTE_ASSETS: tuple[str, ...] = (FLAT_FILE_MINUTE_AGGS, REST_FILLS, MINUTE_BARS)

# --- Request datasets and sources ---------------------------------------------------------------
Dataset = Literal["daily_bars", "minute_bars", "universe", "corporate_actions"]
Source = Literal["flat_file", "grouped_daily", "rest", "reference", "unavailable"]
DATASETS: tuple[Dataset, ...] = get_args(Dataset)
# The bar request datasets share their names with the curated assets that hold them.
UNIVERSE: Final = "universe"
CORPORATE_ACTIONS: Final = "corporate_actions"
SOURCES: tuple[Source, ...] = get_args(Source)

# Per request dataset and planned source: the raw assets that fetch it.
SOURCE_ASSETS: dict[Dataset, dict[Source, tuple[str, ...]]] = {
    DAILY_BARS: {"flat_file": (FLAT_FILE_DAY_AGGS,), "grouped_daily": (GROUPED_DAILY_BARS,)},
    MINUTE_BARS: {"flat_file": (FLAT_FILE_MINUTE_AGGS,), "rest": (REST_FILLS,)},
    UNIVERSE: {"reference": (UNIVERSE_SNAPSHOT,)},
    CORPORATE_ACTIONS: {"reference": (SPLITS, DIVIDENDS)},
}

# Request dataset -> the curated asset built from its raw assets.
CURATED_OF: dict[Dataset, str] = {DAILY_BARS: DAILY_BARS, MINUTE_BARS: MINUTE_BARS}

# Request dataset -> the assets whose stored sessions count as "stored" for a request.
STORED_AS: dict[Dataset, tuple[str, ...]] = {
    DAILY_BARS: (DAILY_BARS,),
    MINUTE_BARS: (MINUTE_BARS,),
    UNIVERSE: (UNIVERSE_SNAPSHOT,),
    CORPORATE_ACTIONS: (SPLITS, DIVIDENDS),
}

# Curated asset -> (source, raw asset that stores it), best first. Daily bars have no stored
# per-ticker REST source: per-ticker day bars are only fetched to reconcile.
STORED_SOURCES: dict[str, tuple[tuple[Source, str], ...]] = {
    DAILY_BARS: (("flat_file", FLAT_FILE_DAY_AGGS), ("grouped_daily", GROUPED_DAILY_BARS)),
    MINUTE_BARS: (("flat_file", FLAT_FILE_MINUTE_AGGS), ("rest", REST_FILLS)),
}

# Raw assets fetched over the REST API (the daily schedule's job), in RAW_ASSETS order.
API_ASSETS: tuple[str, ...] = tuple(
    asset
    for asset in RAW_ASSETS
    if any(
        asset in assets and source != "flat_file"
        for sources in SOURCE_ASSETS.values()
        for source, assets in sources.items()
    )
)


def assets_of(dataset: Dataset) -> tuple[str, ...]:
    """Every asset a request for `dataset` may read or write: its raw and curated assets."""
    raw = [a for assets in SOURCE_ASSETS[dataset].values() for a in assets]
    curated = [CURATED_OF[dataset]] if dataset in CURATED_OF else []
    return tuple(dict.fromkeys([*raw, *curated, *STORED_AS[dataset]]))


def dataset_of(asset: str) -> Dataset:
    """The request dataset a raw asset serves."""
    for dataset, sources in SOURCE_ASSETS.items():
        if any(asset in assets for assets in sources.values()):
            return dataset
    raise KeyError(f"{asset!r} is not a raw asset of any request dataset")


# --- Vendor flat files --------------------------------------------------------------------------
FlatFileDataset = Literal["day_aggs_v1", "minute_aggs_v1"]
FLAT_FILE_DATASETS: tuple[FlatFileDataset, ...] = get_args(FlatFileDataset)
FLAT_FILE_ASSET: dict[FlatFileDataset, str] = {
    "day_aggs_v1": FLAT_FILE_DAY_AGGS,
    "minute_aggs_v1": FLAT_FILE_MINUTE_AGGS,
}
FLAT_FILE_ASSETS: tuple[str, ...] = tuple(FLAT_FILE_ASSET.values())


def raw_assets_of(curated: str) -> tuple[str, ...]:
    """The raw assets a curated asset is built from, best source first."""
    return tuple(raw for _, raw in STORED_SOURCES[curated])


def curated_of_raw(raw: str) -> str | None:
    """The curated asset a raw asset feeds, or None."""
    for curated, pairs in STORED_SOURCES.items():
        if any(asset == raw for _, asset in pairs):
            return curated
    return None

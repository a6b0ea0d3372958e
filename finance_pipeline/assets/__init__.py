"""The raw layer (one module per Polygon source) and the curated layer, all partitioned by NYSE
trading session.

Asset modules do not use `from __future__ import annotations`: Dagster checks the `context`
annotation at definition time and refuses it as a string.
"""

from finance_pipeline.assets.corporate_actions import dividends, splits
from finance_pipeline.assets.curated import CURATED_ASSETS, daily_bars, minute_bars
from finance_pipeline.assets.flat_files import flat_file_day_aggs, flat_file_minute_aggs
from finance_pipeline.assets.grouped_daily import grouped_daily_bars
from finance_pipeline.assets.rest_fills import rest_fills
from finance_pipeline.assets.universe import universe_snapshot

SOURCE_ASSETS = [
    universe_snapshot,
    grouped_daily_bars,
    flat_file_day_aggs,
    flat_file_minute_aggs,
    rest_fills,
    splits,
    dividends,
]

__all__ = [
    "CURATED_ASSETS",
    "SOURCE_ASSETS",
    "daily_bars",
    "dividends",
    "flat_file_day_aggs",
    "flat_file_minute_aggs",
    "grouped_daily_bars",
    "minute_bars",
    "rest_fills",
    "splits",
    "universe_snapshot",
]

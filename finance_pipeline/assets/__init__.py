"""The raw layer (one module per Polygon source) and the curated layer, all partitioned by NYSE
trading session. Asset names come from `finance_pipeline.registry`.

Asset modules do not use `from __future__ import annotations`: Dagster checks the `context`
annotation at definition time and refuses it as a string.
"""

from finance_pipeline.assets.adjustment_factors import adjustment_factors as adjustment_factors
from finance_pipeline.assets.corporate_actions import dividends as dividends
from finance_pipeline.assets.corporate_actions import splits as splits
from finance_pipeline.assets.curated import CURATED_ASSETS as CURATED_ASSETS
from finance_pipeline.assets.curated import daily_bars as daily_bars
from finance_pipeline.assets.curated import minute_bars as minute_bars
from finance_pipeline.assets.flat_file_aggs import flat_file_day_aggs as flat_file_day_aggs
from finance_pipeline.assets.flat_file_aggs import flat_file_minute_aggs as flat_file_minute_aggs
from finance_pipeline.assets.grouped_daily import grouped_daily_bars as grouped_daily_bars
from finance_pipeline.assets.rest_fills import rest_fills as rest_fills
from finance_pipeline.assets.securities import securities as securities
from finance_pipeline.assets.universe import universe_snapshot as universe_snapshot

SOURCE_ASSETS = [
    universe_snapshot,
    grouped_daily_bars,
    flat_file_day_aggs,
    flat_file_minute_aggs,
    rest_fills,
    splits,
    dividends,
]

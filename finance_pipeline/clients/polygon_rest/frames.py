"""The pandas frames Polygon REST methods return: their columns and dtypes, fixed.

Every method returns exactly the columns of its spec, in order and typed, also when Polygon
returned no rows, so callers never branch on an empty answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from finance_pipeline.clients.polygon_rest.errors import PolygonError

# Column -> dtype of every frame returned; empty frames keep both.
# The bar columns every bar-shaped answer carries (grouped daily, aggs, snapshot's day bar).
BAR_COLUMNS = {
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "vwap": "float64",
}
GROUPED_DAILY_COLUMNS = {
    "ticker": "str",
    **BAR_COLUMNS,
    "transactions": "Int64",
    "timestamp": "int64",
    "otc": "bool",
}
AGGS_COLUMNS = {k: v for k, v in GROUPED_DAILY_COLUMNS.items() if k not in ("ticker", "otc")}
TICKERS_COLUMNS = {
    "ticker": "str",
    "name": "str",
    "market": "str",
    "locale": "str",
    "primary_exchange": "str",
    "type": "str",
    "active": "boolean",
    "currency_name": "str",
    "cik": "str",
    "composite_figi": "str",
    "share_class_figi": "str",
    "last_updated_utc": "str",
    "delisted_utc": "str",
}
# Corporate actions: the v1 (/stocks/v1) fields; a v3 answer leaves the v1-only ones empty.
SPLITS_COLUMNS = {
    "id": "str",
    "ticker": "str",
    "execution_date": "str",
    "split_from": "float64",
    "split_to": "float64",
    "adjustment_type": "str",
    "historical_adjustment_factor": "float64",
}
DIVIDENDS_COLUMNS = {
    "id": "str",
    "ticker": "str",
    "cash_amount": "float64",
    "currency": "str",
    "declaration_date": "str",
    "dividend_type": "str",
    "ex_dividend_date": "str",
    "frequency": "Int64",
    "pay_date": "str",
    "record_date": "str",
    "distribution_type": "str",
    "split_adjusted_cash_amount": "float64",
    "historical_adjustment_factor": "float64",
}
SNAPSHOT_COLUMNS = {"ticker": "str", "updated": "Int64", **BAR_COLUMNS, "prev_close": "float64"}


def typed_frame(
    records: Iterable[dict[str, Any]], columns: dict[str, str], what: str
) -> pd.DataFrame:
    """A frame with exactly `columns` (in order, typed), also when there are no records."""
    rows = list(records)
    table = pd.DataFrame({name: [row.get(name) for row in rows] for name in columns})
    try:
        return table.astype(columns)
    except (TypeError, ValueError) as exc:
        raise PolygonError(f"Polygon {what}: unexpected values in the response ({exc})") from None

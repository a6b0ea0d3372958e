"""The explicit Arrow schema of every dataset in the lake, and the one way to conform to it.

All bars are unadjusted. `session` is the New York trading date; `window_start` is the start of
the bar's window (00:00 New York for day bars, the minute for minute bars) as an aware UTC
timestamp, whatever convention the source used (grouped daily stamps 16:00 ET).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from finance_pipeline import registry

TIMESTAMP = pa.timestamp("ns", tz="UTC")

BAR_FIELDS = [
    pa.field("ticker", pa.string(), nullable=False),
    pa.field("session", pa.date32(), nullable=False),
    pa.field("window_start", TIMESTAMP, nullable=False),
    pa.field("open", pa.float64()),
    pa.field("high", pa.float64()),
    pa.field("low", pa.float64()),
    pa.field("close", pa.float64()),
    pa.field("volume", pa.float64()),
    pa.field("vwap", pa.float64()),
    pa.field("transactions", pa.int64()),
]

# Provenance of a flat-file object, kept with every row it produced (restatement detection).
FLAT_FILE_FIELDS = [
    pa.field("source_etag", pa.string()),
    pa.field("source_last_modified", TIMESTAMP),
]

GROUPED_DAILY_BARS = pa.schema([*BAR_FIELDS, pa.field("otc", pa.bool_())])
FLAT_FILE_DAY_AGGS = pa.schema([*BAR_FIELDS, *FLAT_FILE_FIELDS])
FLAT_FILE_MINUTE_AGGS = pa.schema([*BAR_FIELDS, *FLAT_FILE_FIELDS])
REST_FILLS = pa.schema(BAR_FIELDS)
# Curated bars: the best source per session; `source` names the raw asset it came from.
CURATED_BARS = pa.schema([*BAR_FIELDS, pa.field("source", pa.string(), nullable=False)])

UNIVERSE_SNAPSHOT = pa.schema(
    [
        pa.field("session", pa.date32(), nullable=False),
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("type", pa.string()),
        pa.field("market", pa.string()),
        pa.field("locale", pa.string()),
        pa.field("primary_exchange", pa.string()),
        pa.field("active", pa.bool_()),
        pa.field("currency_name", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("composite_figi", pa.string()),
        pa.field("share_class_figi", pa.string()),
        pa.field("delisted_utc", TIMESTAMP),
    ]
)

# Corporate actions carry the session that owns them (the event date, or the next session when
# the vendor dates an event on a weekend or holiday), like every other session-partitioned dataset.
SPLITS = pa.schema(
    [
        pa.field("session", pa.date32(), nullable=False),
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("execution_date", pa.date32(), nullable=False),
        pa.field("split_from", pa.float64(), nullable=False),
        pa.field("split_to", pa.float64(), nullable=False),
        pa.field("id", pa.string()),
        # v1 only (null when the v3 fallback served the run):
        pa.field("adjustment_type", pa.string()),
        pa.field("historical_adjustment_factor", pa.float64()),
    ]
)

DIVIDENDS = pa.schema(
    [
        pa.field("session", pa.date32(), nullable=False),
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("ex_dividend_date", pa.date32(), nullable=False),
        pa.field("cash_amount", pa.float64(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("declaration_date", pa.date32()),
        pa.field("record_date", pa.date32()),
        pa.field("pay_date", pa.date32()),
        pa.field("frequency", pa.int64()),
        pa.field("dividend_type", pa.string()),  # v3 only
        pa.field("id", pa.string()),
        # v1 only (null when the v3 fallback served the run):
        pa.field("distribution_type", pa.string()),
        pa.field("split_adjusted_cash_amount", pa.float64()),
        pa.field("historical_adjustment_factor", pa.float64()),
    ]
)

# Per session, the factors that bring a raw price of that session to today's share basis, for
# every ticker with a stored corporate action after it: split_factor divides prices (Polygon's
# adjusted=true), dividend_factor multiplies the split-adjusted close (total return). The
# vendor's columns are its historical_adjustment_factor in the same convention (null where
# the rows came from the v3 fallback, which has none).
ADJUSTMENT_FACTORS = pa.schema(
    [
        pa.field("session", pa.date32(), nullable=False),
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("split_factor", pa.float64(), nullable=False),
        pa.field("dividend_factor", pa.float64(), nullable=False),
        pa.field("vendor_split_factor", pa.float64()),
        pa.field("vendor_dividend_factor", pa.float64()),
    ]
)

# One row per (security, ticker, validity interval), as known on `session` (the as-of session).
SECURITIES = pa.schema(
    [
        pa.field("session", pa.date32(), nullable=False),
        pa.field("security_id", pa.string(), nullable=False),
        pa.field("id_source", pa.string(), nullable=False),
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("first_session", pa.date32(), nullable=False),
        pa.field("last_session", pa.date32(), nullable=False),
        pa.field("sessions", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("composite_figi", pa.string()),
        pa.field("share_class_figi", pa.string()),
        pa.field("previous_ticker", pa.string()),
        pa.field("reused", pa.bool_(), nullable=False),
        pa.field("current", pa.bool_(), nullable=False),
    ]
)

# Dataset (asset) name -> schema. The lake path of a dataset is its asset name.
DATASETS: dict[str, pa.Schema] = {
    registry.UNIVERSE_SNAPSHOT: UNIVERSE_SNAPSHOT,
    registry.GROUPED_DAILY_BARS: GROUPED_DAILY_BARS,
    registry.FLAT_FILE_DAY_AGGS: FLAT_FILE_DAY_AGGS,
    registry.FLAT_FILE_MINUTE_AGGS: FLAT_FILE_MINUTE_AGGS,
    registry.REST_FILLS: REST_FILLS,
    registry.SPLITS: SPLITS,
    registry.DIVIDENDS: DIVIDENDS,
    registry.DAILY_BARS: CURATED_BARS,
    registry.MINUTE_BARS: CURATED_BARS,
    registry.ADJUSTMENT_FACTORS: ADJUSTMENT_FACTORS,
    registry.SECURITIES: SECURITIES,
}

# Primary keys, for de-duplication and the unique-key checks.
KEYS: dict[str, tuple[str, ...]] = {
    registry.UNIVERSE_SNAPSHOT: ("session", "ticker"),
    registry.GROUPED_DAILY_BARS: ("ticker", "session"),
    registry.FLAT_FILE_DAY_AGGS: ("ticker", "session"),
    registry.FLAT_FILE_MINUTE_AGGS: ("ticker", "window_start"),
    registry.REST_FILLS: ("ticker", "window_start"),
    registry.SPLITS: ("ticker", "execution_date"),
    registry.DIVIDENDS: ("ticker", "ex_dividend_date"),
    registry.DAILY_BARS: ("ticker", "session"),
    registry.MINUTE_BARS: ("ticker", "window_start"),
    registry.ADJUSTMENT_FACTORS: ("ticker", "session"),
    registry.SECURITIES: ("session", "security_id", "ticker", "first_session"),
}


class SchemaError(ValueError):
    """Data that does not fit its dataset's schema; the message names the dataset and columns."""


def to_table(frame: pd.DataFrame, schema: pa.Schema, dataset: str) -> pa.Table:
    """Conform a frame to `schema`: exact columns in schema order, explicit types.

    Raises SchemaError naming what is missing or cannot be cast, instead of a pyarrow traceback.
    """
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise SchemaError(f"{dataset}: missing column(s) {', '.join(missing)}")
    columns = []
    for field in schema:
        try:
            column = pa.array(frame[field.name], type=field.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            message = f"{dataset}: column {field.name!r} is not {field.type}: {exc}"
            raise SchemaError(message) from None
        if not field.nullable and column.null_count:
            raise SchemaError(f"{dataset}: column {field.name!r} has {column.null_count} null(s)")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


# What each column means, shown in the UI's column schema of every asset (`dagster/column_schema`).
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "ticker": "Exchange symbol as the vendor spells it (e.g. BRK.A).",
    "session": "NYSE trading session (New York date) the row belongs to.",
    "window_start": "Start of the bar's window, UTC (00:00 New York for day bars).",
    "open": "First trade price in the window, unadjusted.",
    "high": "Highest trade price in the window, unadjusted.",
    "low": "Lowest trade price in the window, unadjusted.",
    "close": "Last trade price in the window, unadjusted.",
    "volume": "Shares traded in the window, unadjusted.",
    "vwap": "Volume-weighted average price; null where the source has none (flat files).",
    "transactions": "Number of trades in the window.",
    "otc": "True for over-the-counter tickers (grouped daily with include_otc).",
    "source": "Raw asset this curated row was taken from (the best stored for its session).",
    "source_etag": "S3 ETag of the flat file the row came from (detects restatements).",
    "source_last_modified": "S3 LastModified of that flat file, UTC.",
    "name": "Company or fund name.",
    "type": "Polygon ticker type (CS common stock, ETF, ADRC, ...).",
    "market": "Market (stocks, otc).",
    "locale": "Locale (us).",
    "primary_exchange": "MIC of the primary listing exchange.",
    "active": "True when the ticker was listed on the session; false for delisted names.",
    "currency_name": "Trading currency.",
    "cik": "SEC Central Index Key.",
    "composite_figi": "OpenFIGI composite identifier.",
    "share_class_figi": "OpenFIGI share-class identifier.",
    "delisted_utc": "When the ticker was delisted, UTC; null while active.",
    "id": "Vendor id of the corporate action.",
    "execution_date": "First session that trades post-split.",
    "split_from": "Shares before the split (2-for-1: split_from 1, split_to 2).",
    "split_to": "Shares after the split.",
    "ex_dividend_date": "First session that trades without the dividend.",
    "declaration_date": "Date the dividend was declared.",
    "record_date": "Date holders must be on record.",
    "pay_date": "Date the dividend is paid.",
    "cash_amount": "Dividend per share, in `currency`.",
    "currency": "Currency of the dividend.",
    "dividend_type": "CD regular, SC special, LT/ST capital gains.",
    "frequency": "Payments per year (0 one-off, 4 quarterly, 12 monthly).",
    "adjustment_type": "The vendor's kind of split (forward_split, reverse_split, ...).",
    "distribution_type": "The vendor's kind of distribution (recurring, special, ...).",
    "split_adjusted_cash_amount": "Dividend per share adjusted for later splits (vendor's).",
    "historical_adjustment_factor": "The vendor's cumulative factor for prices before this event.",
    "split_factor": "Product of split ratios after the session: divide raw prices by it.",
    "dividend_factor": "Product of (1 - cash / prior close) over later dividends.",
    "vendor_split_factor": "The vendor's cumulative split factor in the same convention.",
    "vendor_dividend_factor": "The vendor's cumulative dividend factor in the same convention.",
    "security_id": "Stable security id: the composite FIGI, else a prefixed fallback id.",
    "id_source": "What security_id is: composite_figi, share_class_figi, cik_name or ticker.",
    "first_session": "First session the security traded under this ticker (inclusive).",
    "last_session": "Last session the security held this ticker (inclusive), as known.",
    "sessions": "Stored universe sessions in [first_session, last_session].",
    "previous_ticker": "The security's ticker in its interval before this one (a rename).",
    "reused": "True when another security held this ticker at another time.",
    "current": "True when the security still holds the ticker on the as-of session.",
}

"""The DuckDB warehouse over the Parquet lake: views, read-time adjustment, coverage, compaction.

`Warehouse(lake_root)` opens in-memory DuckDB connections whose TEMP views read the lake
(`<root>/<dataset>/session=YYYY-MM-DD/part-0.parquet`, the source of truth), found and named
through `finance_pipeline.lake.layout` like every other reader. Views are a snapshot of the
lake at `connect()` / `refresh()`.

- `catalog`: the lake's session files and the bookkeeping database (file catalog, ETag history);
- `views`: the SQL of the raw, de-duplicated, adjusted and coverage views;
- `compaction`: per-period DuckDB files in tiles, with a manifest of the session files copied;
- `s3_mirror`: a local mirror of an `s3://bucket/prefix` lake;
- `core`: the `Warehouse` facade that ties them together.
"""

from finance_pipeline.lake.layout import COMPACT_DIR, DATABASE_FILE, SessionFile
from finance_pipeline.warehouse.catalog import (
    CATALOG_SCHEMA,
    CATALOG_THREADS,
    HISTORY_SCHEMA,
    scan_lake,
)
from finance_pipeline.warehouse.common import WarehouseError
from finance_pipeline.warehouse.compaction import (
    MANIFEST_SCHEMA,
    MONTHLY,
    TILE_ROWS,
    TILE_TICKERS,
    CompactionResult,
    period_of,
)
from finance_pipeline.warehouse.core import Warehouse
from finance_pipeline.warehouse.s3_mirror import DOWNLOAD_THREADS
from finance_pipeline.warehouse.views import RAW_VIEW_NAMES, view_columns

__all__ = [
    "CATALOG_SCHEMA",
    "CATALOG_THREADS",
    "COMPACT_DIR",
    "DATABASE_FILE",
    "DOWNLOAD_THREADS",
    "HISTORY_SCHEMA",
    "MANIFEST_SCHEMA",
    "MONTHLY",
    "RAW_VIEW_NAMES",
    "TILE_ROWS",
    "TILE_TICKERS",
    "CompactionResult",
    "SessionFile",
    "Warehouse",
    "WarehouseError",
    "period_of",
    "scan_lake",
    "view_columns",
]

"""The DuckDB views over the lake, created on an in-memory connection from a `Snapshot`.

- one raw view per dataset, named like the dataset (`splits_raw` / `dividends_raw` for the two
  whose names go to the de-duplicated views); `session` is a DATE (the hive `session=`
  directory); a dataset with no files yet is an empty view with the columns of its Arrow schema;
- `universe` (universe_snapshot, one row per session and ticker), `splits` and `dividends`
  de-duplicated on (ticker, execution_date) / (ticker, ex_dividend_date), with `raw_rows`;
- `daily_bars_adjusted`: daily_bars with factors applied at read time, nothing stored adjusted.
  `split_factor` = product of split_to/split_from over the splits with execution_date > session
  (on execution_date the stock already trades post-split); adj_open/high/low/close/vwap =
  raw / split_factor and adj_volume = raw * split_factor, which is Polygon's `adjusted=true`
  (split-only). `dividend_factor` is CRSP's backward factor: the product, over ex-dates after
  the session, of (1 - cash_amount / close on the previous NYSE session), both unadjusted so
  they share a share basis. An ex-date whose previous-session close is missing, or whose cash
  is not below it, contributes 1. `total_return_close` = adj_close * dividend_factor;
  cash is assumed to be in the price currency;
- `coverage`: one row per (dataset, session) for every session between the first and last
  stored session of any dataset: present, rows, source (curated datasets: the distinct `source`
  values of the file), restated, compacted. `restated` (flat-file datasets): the warehouse
  records every distinct `source_etag` it has seen per session (`etag_history` in its database,
  fed by each refresh that finds a new or replaced file); a session is restated when more than
  one was seen. The vendor replaces the object, and our file with it, so the stored data alone
  holds only the latest ETag: restatements between two refreshes of a read-only warehouse are
  not seen.

Each dataset view is a UNION ALL of branches: a compacted period serves only the sessions whose
file still has the manifest's version, and every other session (new, re-written, not
compacted) is read from its own file, so a re-materialized session wins at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from finance_pipeline import calendar, schemas
from finance_pipeline.lake.layout import SessionFile
from finance_pipeline.registry import (
    CURATED_ASSETS,
    DAILY_BARS,
    DIVIDENDS,
    FLAT_FILE_ASSETS,
    SPLITS,
    UNIVERSE_SNAPSHOT,
)
from finance_pipeline.warehouse.common import one_line, read_parquet_sql, sql_str

log = logging.getLogger(__name__)

# The de-duplicated views take these datasets' names; their raw views are renamed.
RAW_VIEW_NAMES = {SPLITS: f"{SPLITS}_raw", DIVIDENDS: f"{DIVIDENDS}_raw"}
UNIVERSE_VIEW = "universe"
ADJUSTED_VIEW = f"{DAILY_BARS}_adjusted"


def view_columns(dataset: str) -> list[str]:
    """Columns of a dataset's raw view: the schema's, plus the partition `session` if absent."""
    names = list(schemas.DATASETS[dataset].names)
    return names if "session" in names else [*names, "session"]


def _view_schema(dataset: str) -> pa.Schema:
    schema = schemas.DATASETS[dataset]
    if "session" not in schema.names:
        schema = schema.append(pa.field("session", pa.date32()))
    return schema


def _date_list(days: Iterable[dt.date]) -> str:
    return ", ".join(f"DATE '{day.isoformat()}'" for day in sorted(days))


@dataclass
class Snapshot:
    """The lake as the views see it: session files, catalog, ETag history, compacted files."""

    root: Path
    files: dict[str, list[SessionFile]]
    catalog: pa.Table  # current files only
    history: pa.Table
    compacted: dict[str, list[tuple[str, Path]]]


# Adjustment factors as intervals: for sessions in [valid_from, valid_to) of a ticker,
# split_factor = product of split_to/split_from over its splits with execution_date >= valid_to
# (i.e. > session), dividend_factor likewise over its ex-dates. Breakpoints are the union of
# both kinds of event dates, so one range join gives both factors.
_DIVIDEND_EVENTS = f"""
CREATE OR REPLACE TEMP TABLE _dividend_events AS
WITH d AS (
    SELECT d.ticker, d.ex_dividend_date, d.cash_amount, c.session AS prior_session
    FROM {DIVIDENDS} d ASOF LEFT JOIN _sessions c ON d.ex_dividend_date > c.session
)
SELECT d.*, b.close AS prior_close,
       CASE WHEN b.close > 0 AND d.cash_amount >= 0 AND d.cash_amount < b.close
            THEN 1 - d.cash_amount / b.close ELSE 1 END AS event_factor
FROM d LEFT JOIN {DAILY_BARS} b ON b.ticker = d.ticker AND b.session = d.prior_session
"""

_FACTORS = f"""
CREATE OR REPLACE TEMP TABLE _factors AS
WITH events AS (
    SELECT ticker, day, product(split_ratio) AS split_ratio, product(div_factor) AS div_factor
    FROM (
        SELECT ticker, execution_date AS day, split_to / split_from AS split_ratio,
               1.0 AS div_factor
        FROM {SPLITS} WHERE split_from > 0 AND split_to > 0
        UNION ALL
        SELECT ticker, ex_dividend_date, 1.0, event_factor FROM _dividend_events
    ) GROUP BY ticker, day
)
SELECT ticker,
       coalesce(lag(day) OVER (PARTITION BY ticker ORDER BY day), DATE '0001-01-01')
           AS valid_from,
       day AS valid_to,
       product(split_ratio) OVER later AS split_factor,
       product(div_factor) OVER later AS dividend_factor
FROM events
WINDOW later AS (PARTITION BY ticker ORDER BY day DESC
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY ticker, valid_to
"""

_ADJUSTED = f"""
CREATE OR REPLACE TEMP VIEW {ADJUSTED_VIEW} AS
SELECT *,
       open / split_factor AS adj_open,
       high / split_factor AS adj_high,
       low / split_factor AS adj_low,
       close / split_factor AS adj_close,
       vwap / split_factor AS adj_vwap,
       volume * split_factor AS adj_volume,
       close / split_factor * dividend_factor AS total_return_close
FROM ({{parts}})
"""


@dataclass(frozen=True)
class _Branch:
    """One part of a dataset view: a SELECT of the view's columns and the sessions it serves."""

    sql: str
    first: dt.date | None = None
    last: dt.date | None = None


def _install_adjusted(con: duckdb.DuckDBPyConnection, branches: list[_Branch]) -> None:
    """daily_bars_adjusted: one range join per daily_bars branch, each against only the factor
    intervals overlapping the branch's sessions, and each branch bounded by its sessions. A
    one-session query then plans away every other branch, joins included, and builds its hash
    table from one year's intervals instead of every dividend ever paid (measured on 10 years x
    10,000 tickers: 1 ms instead of 9 ms of join in a cross-section)."""
    try:
        con.execute(_DIVIDEND_EVENTS)
        con.execute(_FACTORS)
    except duckdb.Error as exc:  # a bad stored file: only the queries of this view fail
        message = sql_str(f"{ADJUSTED_VIEW} cannot be built: {one_line(exc)}")
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ADJUSTED_VIEW} AS FROM range(1) WHERE error({message})"
        )
        return
    parts = []
    for number, branch in enumerate(branches):
        factors, bounds, within = f"_factors_{number}", "", ""
        if branch.first and branch.last:
            first, last = f"DATE '{branch.first}'", f"DATE '{branch.last}'"
            bounds = f"WHERE valid_to > {first} AND valid_from <= {last}"
            within = f"WHERE b.session BETWEEN {first} AND {last}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {factors} AS FROM _factors {bounds}")
        parts.append(
            "SELECT b.*, coalesce(f.split_factor, 1.0) AS split_factor, "
            f"coalesce(f.dividend_factor, 1.0) AS dividend_factor FROM ({branch.sql}) b "
            f"LEFT JOIN {factors} f ON f.ticker = b.ticker AND b.session >= f.valid_from "
            f"AND b.session < f.valid_to {within}"
        )
    con.execute(_ADJUSTED.format(parts="\n    UNION ALL ".join(parts)))


# view -> (source view, partition, order): the row kept per key, and how many there were.
_DEDUPED = {
    UNIVERSE_VIEW: (
        UNIVERSE_SNAPSHOT,
        "session, ticker",
        "active DESC NULLS LAST, delisted_utc DESC NULLS FIRST, name NULLS LAST",
    ),
    SPLITS: (
        RAW_VIEW_NAMES[SPLITS],
        "ticker, execution_date",
        "id NULLS LAST, split_from, split_to",
    ),
    DIVIDENDS: (
        RAW_VIEW_NAMES[DIVIDENDS],
        "ticker, ex_dividend_date",
        "id NULLS LAST, cash_amount",
    ),
}
# De-duplicated view -> the dataset it needs.
_DEDUPED_DATASET = {UNIVERSE_VIEW: UNIVERSE_SNAPSHOT, SPLITS: SPLITS, DIVIDENDS: DIVIDENDS}

_COVERAGE = """
CREATE OR REPLACE TEMP VIEW coverage AS
WITH bounds AS (SELECT min(session) AS lo, max(session) AS hi FROM _catalog),
cal AS (SELECT c.session FROM _sessions c, bounds WHERE c.session BETWEEN bounds.lo AND bounds.hi),
etags AS (
    SELECT dataset, session, count(DISTINCT source_etag) AS seen FROM (
        SELECT dataset, session, source_etag FROM _etag_history
        UNION ALL SELECT dataset, session, unnest(etags) FROM _catalog
    ) GROUP BY ALL
)
SELECT d.dataset, cal.session, k.session IS NOT NULL AS present, coalesce(k.rows, 0) AS rows,
       CASE WHEN d.dataset IN ({curated}) THEN nullif(array_to_string(k.sources, ','), '') END
           AS source,
       CASE WHEN d.dataset IN ({flat}) THEN coalesce(e.seen, 0) > 1 END AS restated,
       coalesce(k.compacted, false) AS compacted
FROM _datasets d CROSS JOIN cal
LEFT JOIN _catalog k ON k.dataset = d.dataset AND k.session = cal.session
LEFT JOIN etags e ON e.dataset = d.dataset AND e.session = cal.session
"""


def _dataset_branches(
    con: duckdb.DuckDBPyConnection, snap: Snapshot, dataset: str, index: int
) -> tuple[list[_Branch], set[dt.date]]:
    """Attach the dataset's compacted files and return the view's branches: each compacted
    period for its sessions whose file is unchanged, then the remaining session files."""
    con.register("_empty_arrow", _view_schema(dataset).empty_table())
    con.execute(f"CREATE OR REPLACE TEMP TABLE _empty_{dataset} AS FROM _empty_arrow")
    con.unregister("_empty_arrow")
    current = {f.session: f.version for f in snap.files.get(dataset, [])}
    cols = ", ".join(f'"{c}"' for c in view_columns(dataset))
    branches, covered = [], set()
    for number, (period, path) in enumerate(snap.compacted.get(dataset, [])):
        alias = f"cmp_{index}_{number}"
        try:
            con.execute(f"ATTACH {sql_str(str(path))} AS {alias} (READ_ONLY)")
            manifest = con.execute(f"SELECT session, ino, mtime_ns, size FROM {alias}.manifest")
            versions = manifest.fetchall()
        except duckdb.Error as exc:
            log.warning("ignoring compacted file %s: %s", path, one_line(exc))
            continue
        fresh = {s for s, *version in versions if current.get(s) == tuple(version)}
        stale = {s for s, *_ in versions} - fresh
        if not fresh:
            continue
        where = f" WHERE session NOT IN ({_date_list(stale)})" if stale else ""
        branches.append(_Branch(f"SELECT {cols} FROM {alias}.data{where}", min(fresh), max(fresh)))
        covered |= fresh
        log.debug("%s %s: %d sessions compacted, %d stale", dataset, period, len(fresh), len(stale))
    rest = [f for f in snap.files.get(dataset, []) if f.session not in covered]
    if rest:
        source = read_parquet_sql([f.path for f in rest])
        branches.append(_Branch(f"SELECT {cols} FROM {source}", rest[0].session, rest[-1].session))
    if not branches:
        branches.append(_Branch(f"SELECT {cols} FROM _empty_{dataset}"))
    return branches, covered


def install_views(con: duckdb.DuckDBPyConnection, snap: Snapshot, datasets: list[str]) -> None:
    """(Re)create every view of `snap` on `con`."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET parquet_metadata_cache = true")
    attached = con.execute(
        "SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'cmp_%'"
    ).fetchall()
    for (name,) in attached:
        con.execute(f'DETACH "{name}"')
    sessions = calendar.sessions_between(calendar.FIRST_SESSION, calendar.last_known_session())
    con.register("_sessions_arrow", pa.table({"session": pa.array(sessions, pa.date32())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _sessions AS SELECT * FROM _sessions_arrow")
    con.unregister("_sessions_arrow")

    compacted_sessions: list[tuple[str, dt.date]] = []
    daily_branches: list[_Branch] = []
    for index, dataset in enumerate(datasets):
        branches, covered = _dataset_branches(con, snap, dataset, index)
        name = RAW_VIEW_NAMES.get(dataset, dataset)
        union = "\nUNION ALL ".join(b.sql for b in branches)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {union}")
        compacted_sessions += [(dataset, s) for s in covered]
        if dataset == DAILY_BARS:
            daily_branches = branches

    for view, (source, partition, order) in _DEDUPED.items():
        if _DEDUPED_DATASET[view] in datasets:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * EXCLUDE (_n) FROM ("
                f"SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY {order}) AS _n, "
                f"count(*) OVER (PARTITION BY {partition}) AS raw_rows FROM {source}) "
                "WHERE _n = 1"
            )
    if {DAILY_BARS, SPLITS, DIVIDENDS} <= set(datasets):
        _install_adjusted(con, daily_branches)

    marks = pa.table(
        {
            "dataset": [d for d, _ in compacted_sessions],
            "session": pa.array([s for _, s in compacted_sessions], pa.date32()),
        }
    )
    con.register("_catalog_arrow", snap.catalog)
    con.register("_compacted_arrow", marks)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _catalog AS SELECT c.*, m.session IS NOT NULL AS compacted "
        "FROM _catalog_arrow c LEFT JOIN _compacted_arrow m USING (dataset, session)"
    )
    con.register("_history_arrow", snap.history)
    con.execute("CREATE OR REPLACE TEMP TABLE _etag_history AS SELECT * FROM _history_arrow")
    con.register("_datasets_arrow", pa.table({"dataset": datasets}))
    con.execute("CREATE OR REPLACE TEMP TABLE _datasets AS SELECT * FROM _datasets_arrow")
    for name in ("_catalog_arrow", "_compacted_arrow", "_history_arrow", "_datasets_arrow"):
        con.unregister(name)
    quoted = {
        k: ", ".join(map(sql_str, v))
        for k, v in (("curated", CURATED_ASSETS), ("flat", FLAT_FILE_ASSETS))
    }
    con.execute(_COVERAGE.format(**quoted))

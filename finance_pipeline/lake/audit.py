"""The audit of write-audit-publish: may a new partition replace what is stored?

Before a new file of a session is published, its table is checked (the schema and the
session of every row were already checked by `conform`):
- bar datasets: bar invariants (low <= open, close <= high, volume >= 0, prices present) and
  the session window (day bars at 00:00 New York, minute bars 04:00-20:00 New York);
- against the stored partition: it may not shrink it by more than SHRINK_TOLERANCE of its rows
  or of its tickers (a vendor republishing half a file, or only its header);
- against recent sessions: a whole-market bar dataset may not hold fewer than
  HISTORY_MIN_SHARE of the median rows of the last HISTORY_SESSIONS stored sessions (from
  their manifest entries; curated sessions only against sessions of the same source).
A refusal is a reason in words; the caller quarantines the file and keeps the stored one.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from finance_pipeline.calendar import previous_session
from finance_pipeline.checks.rules import quality
from finance_pipeline.lake.manifest import ManifestEntry
from finance_pipeline.registry import BAR_ASSETS, MINUTE_ASSETS, REST_FILLS

# A republished partition may lose up to 10% of its rows or tickers (delistings, a vendor
# dropping a few bad rows); more than that is held for a person to accept.
SHRINK_TOLERANCE = 0.10
HISTORY_SESSIONS = 5
HISTORY_MIN_SHARE = 0.5
_HISTORY_LOOKBACK = 15
# Partitions that may legitimately be empty or small (rest_fills: named tickers only).
NOT_WHOLE_MARKET = frozenset({REST_FILLS})


@dataclass(frozen=True)
class Stored:
    """What the audit compares with: the stored partition's rows and tickers."""

    rows: int
    tickers: int | None


def tickers_of(table: pa.Table) -> int | None:
    return len(pc.unique(table["ticker"])) if "ticker" in table.column_names else None


def _bar_problems(dataset: str, session: dt.date, table: pa.Table) -> list[str]:
    if dataset not in BAR_ASSETS or table.num_rows == 0:
        return []
    frame = table.to_pandas()
    granularity: quality.Granularity = "minute" if dataset in MINUTE_ASSETS else "day"
    verdicts = [
        quality.bar_invariants_verdict(frame),
        quality.session_window_verdict(frame, session, granularity),
    ]
    return [v.description for v in verdicts if not v.passed]


def _shrink_problems(table: pa.Table, stored: Stored | None) -> list[str]:
    if stored is None:
        return []
    problems = []
    floor = 1 - SHRINK_TOLERANCE
    if table.num_rows < stored.rows * floor:
        problems.append(
            f"would shrink the stored partition from {stored.rows:,} to {table.num_rows:,} rows "
            f"(more than the {SHRINK_TOLERANCE:.0%} tolerance)"
        )
    new_tickers = tickers_of(table)
    if stored.tickers and new_tickers is not None and new_tickers < stored.tickers * floor:
        problems.append(
            f"would shrink the stored partition from {stored.tickers:,} to {new_tickers:,} "
            f"tickers (more than the {SHRINK_TOLERANCE:.0%} tolerance)"
        )
    return problems


def recent_rows(
    dataset: str,
    session: dt.date,
    manifest: Callable[[str, dt.date], ManifestEntry | None],
    source: str | None,
) -> list[int]:
    """Rows of up to HISTORY_SESSIONS sessions before `session` with a manifest entry (of the
    same `source` when given)."""
    counts: list[int] = []
    day = session
    for _ in range(_HISTORY_LOOKBACK):
        day = previous_session(day)
        entry = manifest(dataset, day)
        if entry is not None and (source is None or entry.source == source):
            counts.append(entry.rows)
            if len(counts) == HISTORY_SESSIONS:
                break
    return counts


def _history_problems(dataset: str, table: pa.Table, history: list[int]) -> list[str]:
    if dataset not in BAR_ASSETS or dataset in NOT_WHOLE_MARKET:
        return []
    if not history:
        return []
    median = statistics.median(history)
    if table.num_rows < median * HISTORY_MIN_SHARE:
        return [
            f"{table.num_rows:,} rows, under {HISTORY_MIN_SHARE:.0%} of the median "
            f"({median:,.0f}) of the last {len(history)} stored sessions"
        ]
    return []


def audit(
    dataset: str,
    session: dt.date,
    table: pa.Table,
    stored: Stored | None,
    history: list[int],
) -> str | None:
    """Why `table` must not replace the stored partition of (dataset, session), or None."""
    problems = [
        *_bar_problems(dataset, session, table),
        *_shrink_problems(table, stored),
        *_history_problems(dataset, table, history),
    ]
    return "; ".join(problems) or None

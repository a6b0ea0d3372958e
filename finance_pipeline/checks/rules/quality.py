"""Data-quality rules for one stored bars partition.

Each rule returns a `Verdict`. Broken data (wrong schema, duplicated keys, impossible bars, a bar
outside its session, a whole-market result far below the recent norm) is an ERROR; exchange test
symbols are only flagged in raw data (raw assets store what the vendor said) and are an ERROR in
curated data.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import pyarrow as pa

from finance_pipeline.calendar import NEW_YORK
from finance_pipeline.checks.rules.frames import PRICE_COLUMNS, exchange_test_mask
from finance_pipeline.checks.rules.verdicts import Verdict, offenders_text
from finance_pipeline.schemas import DATASETS, KEYS

Granularity = Literal["day", "minute"]
# Minute bars cover the extended session, 04:00-20:00 New York.
MINUTE_FIRST = dt.time(4, 0)
MINUTE_END = dt.time(20, 0)
# Float noise allowed in the OHLC ordering (prices are quoted to at most 4-6 decimals).
EPS = 1e-9


@dataclass(frozen=True)
class Finding:
    """Rows breaking one rule and the tickers they belong to (first few)."""

    rule: str
    rows: int
    tickers: list[str]
    ticker_count: int

    def text(self) -> str:
        return f"{self.rule}: {self.rows} rows ({offenders_text(self.tickers, self.ticker_count)})"


def _finding(rule: str, frame: pd.DataFrame, mask: pd.Series) -> Finding:
    tickers = sorted(frame.loc[mask, "ticker"].astype(str).unique())
    return Finding(rule, int(mask.sum()), tickers[:10], len(tickers))


def _failed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rows]


def _findings_metadata(findings: list[Finding]) -> dict[str, object]:
    tickers = [t for f in findings for t in f.tickers]
    return {
        "failed_rows": sum(f.rows for f in findings),
        "offenders": offenders_text(tickers),
        **{f"{f.rule}_rows": f.rows for f in findings},
    }


def schema_verdict(schema: pa.Schema, dataset: str) -> Verdict:
    """The stored schema equals the dataset's schema: same names, order and types."""
    expected = DATASETS[dataset]
    actual = {field.name: field.type for field in schema}
    wanted = {field.name: field.type for field in expected}
    missing = [name for name in wanted if name not in actual]
    extra = [name for name in actual if name not in wanted]
    retyped = [
        f"{name} is {actual[name]}, expected {kind}"
        for name, kind in wanted.items()
        if name in actual and actual[name] != kind
    ]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    problems.extend(retyped)
    if not problems and list(actual) != list(wanted):
        problems.append(f"column order {list(actual)} differs from {list(wanted)}")
    meta = {"columns": len(actual), "problems": len(problems)}
    if problems:
        return Verdict.error(f"{dataset} schema differs: {'; '.join(problems)}", **meta)
    return Verdict.ok(f"{dataset} schema matches ({len(actual)} columns)", **meta)


def unique_keys_verdict(frame: pd.DataFrame, dataset: str) -> Verdict:
    """No two rows share the dataset's key (schemas.KEYS)."""
    keys = list(KEYS[dataset])
    duplicated = frame.duplicated(keys, keep=False)
    extra_rows = int(frame.duplicated(keys, keep="first").sum())
    finding = _finding("duplicate_key", frame, duplicated)
    meta = {
        "rows": len(frame),
        "duplicate_rows": extra_rows,
        "offenders": offenders_text(finding.tickers, finding.ticker_count),
    }
    if extra_rows:
        return Verdict.error(
            f"{extra_rows} duplicated {tuple(keys)} rows in {dataset}: {meta['offenders']}", **meta
        )
    return Verdict.ok(f"{len(frame)} rows, keys {tuple(keys)} unique", **meta)


def bar_findings(frame: pd.DataFrame) -> list[Finding]:
    """OHLC ordering (low <= open, close <= high), volume >= 0, no missing prices."""
    prices = frame[list(PRICE_COLUMNS)].astype("float64")
    nan_price = prices.isna().any(axis=1)
    o, h, lo, c = (prices[name] for name in PRICE_COLUMNS)
    broken = (
        (lo - o > EPS) | (lo - c > EPS) | (o - h > EPS) | (c - h > EPS) | (lo - h > EPS)
    ) & ~nan_price
    volume = frame["volume"].astype("float64")
    return [
        _finding("ohlc_order", frame, broken),
        _finding("negative_volume", frame, volume < 0),
        _finding("missing_price", frame, nan_price),
        _finding("missing_volume", frame, volume.isna()),
    ]


def bar_invariants_verdict(frame: pd.DataFrame) -> Verdict:
    findings = bar_findings(frame)
    failed = _failed(findings)
    meta = {"rows": len(frame), **_findings_metadata(findings)}
    if failed:
        return Verdict.error("impossible bars: " + "; ".join(f.text() for f in failed), **meta)
    return Verdict.ok(f"all {len(frame)} bars satisfy low <= open, close <= high", **meta)


def window_findings(
    frame: pd.DataFrame, session: dt.date, granularity: Granularity
) -> list[Finding]:
    """Rows whose `session` is not the partition's, or whose window start is not where the
    session puts it: 00:00 New York for day bars, 04:00-20:00 New York that day for minutes."""
    sessions = pd.to_datetime(frame["session"]).dt.date
    wrong_session = sessions != session
    local = pd.to_datetime(frame["window_start"], utc=True).dt.tz_convert(NEW_YORK)
    if granularity == "day":
        midnight = pd.Timestamp(dt.datetime.combine(session, dt.time(), NEW_YORK))
        outside = local != midnight
    else:
        times = local.dt.time
        outside = (local.dt.date != session) | (times < MINUTE_FIRST) | (times >= MINUTE_END)
    return [
        _finding("wrong_session", frame, wrong_session),
        _finding("window_outside_session", frame, outside),
    ]


def session_window_verdict(
    frame: pd.DataFrame, session: dt.date, granularity: Granularity
) -> Verdict:
    findings = window_findings(frame, session, granularity)
    failed = _failed(findings)
    meta = {"rows": len(frame), **_findings_metadata(findings)}
    if not frame.empty:
        local = pd.to_datetime(frame["window_start"], utc=True).dt.tz_convert(NEW_YORK)
        meta["first_window_start"] = local.min().isoformat()
        meta["last_window_start"] = local.max().isoformat()
    if failed:
        return Verdict.error(
            f"bars outside session {session} (a wrong-day file?): "
            + "; ".join(f.text() for f in failed),
            **meta,
        )
    rule = "00:00 New York" if granularity == "day" else "04:00-20:00 New York"
    return Verdict.ok(f"all {len(frame)} bars in session {session} ({rule})", **meta)


def exchange_test_symbols_verdict(frame: pd.DataFrame, *, allowed: bool) -> Verdict:
    """Exchange test symbols: flagged with a count where `allowed` (raw data), ERROR otherwise."""
    mask = exchange_test_mask(frame["ticker"]) if not frame.empty else pd.Series(dtype=bool)
    finding = _finding("test_symbol", frame, mask) if not frame.empty else None
    rows = finding.rows if finding else 0
    names = offenders_text(finding.tickers, finding.ticker_count) if finding else ""
    meta = {"test_symbol_rows": rows, "offenders": names}
    if rows and not allowed:
        return Verdict.error(f"{rows} rows of exchange test symbols ({names})", **meta)
    if rows:
        return Verdict.ok(f"{rows} rows of exchange test symbols, flagged ({names})", **meta)
    return Verdict.ok("no exchange test symbols", **meta)


def row_count_verdict(rows: int, history: list[int], *, min_share: float = 0.5) -> Verdict:
    """`rows` at least `min_share` of the median of recent stored sessions (`history`).

    An empty partition, or one far below the norm, means the source returned a partial or
    empty whole-market result. Without history there is nothing to compare against."""
    meta: dict[str, object] = {"rows": rows, "history_sessions": len(history)}
    if not history:
        return Verdict.ok(f"{rows} rows; no earlier sessions stored to compare with", **meta)
    median = float(statistics.median(history))
    floor = min_share * median
    meta.update({"median_recent_rows": median, "min_rows": floor})
    if rows < floor or (rows == 0 and median > 0):
        return Verdict.error(
            f"{rows} rows, below {min_share:.0%} of the median {median:.0f} of the last "
            f"{len(history)} stored sessions: a partial or empty result",
            **meta,
        )
    return Verdict.ok(f"{rows} rows (median of last {len(history)}: {median:.0f})", **meta)

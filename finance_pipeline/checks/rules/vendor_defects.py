"""Rules for the vendor's known data defects, on raw bars and corporate actions.

- `split_verdict`: each split's ratio confirmed by the price ratio across its execution date
  (close of the previous session / close on the execution date, both unadjusted): a wrong or
  duplicated split row is not confirmed. Confirmed when that ratio is within SPLIT_TOLERANCE
  (relative, on a log scale) of split_to / split_from;
- `price_jump_verdict`: closes against the previous session's close beyond JUMP_THRESHOLD
  either way, not explained by a split or dividend of the ticker on that session (garbage
  tickers with absurd prices: the real 2020-04-07..14 grouped daily defect);
- `vendor_factor_verdict`: the factors the product applies against the vendor's own
  historical_adjustment_factor, split and dividend apart.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from finance_pipeline.checks.rules.frames import drop_test_symbols, rel_diff
from finance_pipeline.checks.rules.verdicts import Verdict, first_few, offenders_text

SPLIT_TOLERANCE = 0.25  # |log(price ratio / split ratio)| <= log(1.25)
JUMP_THRESHOLD = 3.0  # close / previous close above 3 or below 1/3
FACTOR_TOLERANCE = 1e-6  # relative


def _closes(bars: pd.DataFrame) -> pd.Series:
    frame, _ = drop_test_symbols(bars)
    return frame.drop_duplicates("ticker").set_index("ticker")["close"].astype("float64")


def split_verdict(
    splits: pd.DataFrame, before: pd.DataFrame | None, on: pd.DataFrame | None, session: dt.date
) -> Verdict:
    """Splits executed on `session` against the raw closes of the previous session (`before`)
    and of `session` (`on`); None when those bars are not stored."""
    if splits.empty:
        return Verdict.ok(f"no split on {session}", split_rows=0, confirmed=0, unconfirmed=0)
    if before is None or on is None:
        return Verdict.ok(
            f"{len(splits)} split(s) on {session}: bars around it not stored, nothing verified",
            split_rows=len(splits),
            confirmed=0,
            unconfirmed=0,
            skipped=1,
        )
    prev, now = _closes(before), _closes(on)
    bad, confirmed, unverifiable = [], 0, 0
    for row in splits.itertuples():
        expected = row.split_to / row.split_from
        if row.ticker not in prev.index or row.ticker not in now.index:
            unverifiable += 1
            continue
        implied = prev[row.ticker] / now[row.ticker]
        if abs(math.log(implied / expected)) <= math.log1p(SPLIT_TOLERANCE):
            confirmed += 1
        else:
            bad.append(
                f"{row.ticker} {session} {row.split_from:g}:{row.split_to:g} "
                f"(prices moved {implied:.3g}x)"
            )
    meta = {
        "split_rows": len(splits),
        "confirmed": confirmed,
        "unconfirmed": len(bad),
        "unverifiable": unverifiable,
        "offenders": offenders_text(bad, len(bad)),
    }
    if bad:
        return Verdict.error(
            f"{len(bad)} split row(s) on {session} not confirmed by prices (wrong or duplicated "
            f"vendor rows): {meta['offenders']}",
            **meta,
        )
    return Verdict.ok(f"{confirmed} split(s) on {session} confirmed by prices", **meta)


def price_jump_verdict(
    bars: pd.DataFrame, previous: pd.DataFrame | None, explained: set[str], session: dt.date
) -> Verdict:
    """Closes of `session` against the previous session's (None: not stored); `explained`:
    tickers with a split or dividend on `session`."""
    if previous is None:
        return Verdict.ok(
            f"previous session of {session} not stored: nothing compared",
            compared=0,
            jumps=0,
            skipped=1,
        )
    now, prev = _closes(bars), _closes(previous)
    joined = pd.DataFrame({"close": now, "previous": prev}).dropna()
    joined = joined[(joined["close"] > 0) & (joined["previous"] > 0)]
    ratio = joined["close"] / joined["previous"]
    jumps = ratio[((ratio > JUMP_THRESHOLD) | (ratio < 1 / JUMP_THRESHOLD))]
    jumps = jumps[~jumps.index.isin(sorted(explained))]
    order = np.argsort(-np.abs(np.log(jumps.to_numpy())), kind="stable")
    named = [f"{t} ({jumps[t]:.3g}x)" for t in jumps.index[order]]
    meta = {
        "compared": len(joined),
        "jumps": len(jumps),
        "tickers": ", ".join(first_few(jumps.index[order])),
        "offenders": offenders_text(named, len(named)),
        "threshold": JUMP_THRESHOLD,
    }
    if len(jumps):
        return Verdict.error(
            f"{len(jumps)} ticker(s) on {session} moved beyond {JUMP_THRESHOLD:g}x from the "
            f"previous close with no split or dividend: {meta['offenders']}",
            **meta,
        )
    return Verdict.ok(f"no unexplained jump beyond {JUMP_THRESHOLD:g}x on {session}", **meta)


def _factor_offenders(frame: pd.DataFrame, ours: str, vendor: str) -> list[str]:
    rows = frame[frame[vendor].notna()]
    diff = rel_diff(rows[ours], rows[vendor])
    bad = rows[diff > FACTOR_TOLERANCE]
    return [
        f"{t} {s} (ours {a:.6g}, vendor {b:.6g})"
        for t, s, a, b in zip(bad["ticker"], bad["session"], bad[ours], bad[vendor], strict=True)
    ]


def vendor_factor_verdict(frame: pd.DataFrame, session: dt.date) -> Verdict:
    """adjustment_factors rows of `session`: our split/dividend factors against the vendor's."""
    split_bad = _factor_offenders(frame, "split_factor", "vendor_split_factor")
    dividend_bad = _factor_offenders(frame, "dividend_factor", "vendor_dividend_factor")
    meta = {
        "tickers": len(frame),
        "compared_split": int(frame["vendor_split_factor"].notna().sum()),
        "compared_dividend": int(frame["vendor_dividend_factor"].notna().sum()),
        "split_mismatches": len(split_bad),
        "dividend_mismatches": len(dividend_bad),
        "split_offenders": offenders_text(split_bad, len(split_bad)),
        "dividend_offenders": offenders_text(dividend_bad, len(dividend_bad)),
    }
    if split_bad or dividend_bad:
        parts = [
            f"{len(bad)} {kind} factor(s) differ from the vendor's: {offenders_text(bad, len(bad))}"
            for kind, bad in (("split", split_bad), ("dividend", dividend_bad))
            if bad
        ]
        return Verdict.error(f"{session}: " + "; ".join(parts), **meta)
    return Verdict.ok(
        f"{session}: {len(frame)} ticker(s)' factors equal the vendor's historical "
        "adjustment factors",
        **meta,
    )

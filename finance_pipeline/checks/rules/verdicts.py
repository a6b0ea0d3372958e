"""Verdicts: the outcome of one rule on one session, and how a range of sessions folds into one.

Severity mirrors dagster.AssetCheckSeverity so the rules need no Dagster import; the checks turn a
Verdict into an AssetCheckResult (`finance_pipeline.checks.context.to_result`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

# How many offending tickers a check names in its metadata.
OFFENDERS_SHOWN = 10


class Severity(StrEnum):
    """Mirrors dagster.AssetCheckSeverity."""

    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check on one session: passed, or failed at a severity, with numbers."""

    passed: bool
    severity: Severity = Severity.ERROR
    description: str = ""
    metadata: dict[str, object] = field(default_factory=dict)

    @classmethod
    def ok(cls, description: str, **metadata: object) -> Verdict:
        return cls(True, Severity.ERROR, description, dict(metadata))

    @classmethod
    def warn(cls, description: str, **metadata: object) -> Verdict:
        return cls(False, Severity.WARN, description, dict(metadata))

    @classmethod
    def error(cls, description: str, **metadata: object) -> Verdict:
        return cls(False, Severity.ERROR, description, dict(metadata))


def first_few(tickers: Iterable[str], limit: int = OFFENDERS_SHOWN) -> list[str]:
    """Distinct tickers in first-seen order, at most `limit`."""
    seen: dict[str, None] = {}
    for ticker in tickers:
        seen.setdefault(str(ticker), None)
        if len(seen) >= limit:
            break
    return list(seen)


def offenders_text(tickers: Iterable[str], total: int | None = None) -> str:
    """Offending tickers for metadata: 'A, B, C (+12 more)'; empty string when none."""
    shown = first_few(tickers)
    text = ", ".join(shown)
    if total is not None and total > len(shown):
        text += f" (+{total - len(shown)} more)"
    return text


def combine(verdicts: dict[dt.date, Verdict]) -> Verdict:
    """One verdict for a range run: the worst session's, with how many sessions failed."""
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    failed = {s: v for s, v in verdicts.items() if not v.passed}
    sessions_meta = {"sessions": len(verdicts), "failed_sessions": len(failed)}
    if not failed:
        first, last = min(verdicts), max(verdicts)
        totals = _totals([v.metadata for v in verdicts.values()])
        text = f"{len(verdicts)} sessions {first}..{last} pass"
        return Verdict.ok(text, **totals, **sessions_meta)
    errors = [s for s, v in failed.items() if v.severity is Severity.ERROR]
    worst_session = min(errors) if errors else min(failed)
    worst = failed[worst_session]
    listed = ", ".join(str(s) for s in sorted(failed)[:10])
    return Verdict(
        passed=False,
        severity=worst.severity,
        description=f"{len(failed)} of {len(verdicts)} sessions fail ({listed}); "
        f"{worst_session}: {worst.description}",
        metadata={**worst.metadata, **sessions_meta, "worst_session": worst_session.isoformat()},
    )


def _totals(metadata: list[dict[str, object]]) -> dict[str, object]:
    """Numbers over several sessions: counts summed, differences at their maximum, shares at
    their minimum (the worst session in each case)."""
    totals: dict[str, object] = {}
    for key in metadata[0]:
        values = [m.get(key) for m in metadata]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            totals[key] = sum(values)  # type: ignore[arg-type]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            worst = min if key.endswith("share") else max
            totals[key] = worst(values)  # type: ignore[type-var]
    return totals

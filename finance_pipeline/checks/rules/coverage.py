"""Universe coverage: how many of a session's traded tickers the universe snapshot lists."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from finance_pipeline.checks.rules.frames import drop_test_symbols
from finance_pipeline.checks.rules.verdicts import Verdict, first_few, offenders_text


@dataclass(frozen=True)
class Coverage:
    """How many of a session's traded tickers the universe snapshot lists."""

    traded: int
    covered: int
    missing_tickers: list[str]  # first few, sorted
    missing: int
    not_traded: int  # in the universe but without a bar (illiquid, delisted): informational

    @property
    def share(self) -> float:
        return self.covered / self.traded if self.traded else 1.0

    def metadata(self) -> dict[str, object]:
        return {
            "rows_compared": self.traded,
            "matched": self.covered,
            "mismatched": 0,
            "only_left": self.missing,
            "only_right": self.not_traded,
            "max_rel_diff": float(1.0 - self.share),
            "offenders": offenders_text(self.missing_tickers, self.missing),
            "coverage_share": float(self.share),
            # Tickers in price data the reference data does not list (a known vendor defect).
            "traded_not_in_universe": self.missing,
        }

    def verdict(self, min_share: float, error_share: float) -> Verdict:
        """Pass at or above `min_share`; WARN below it; ERROR below `error_share`."""
        meta = self.metadata()
        text = (
            f"the universe lists {self.covered} of {self.traded} traded tickers "
            f"({self.share:.1%}); missing: {meta['offenders'] or 'none'}"
        )
        if self.share < error_share:
            return Verdict.error(f"{text}; below {error_share:.0%}, the snapshot is broken", **meta)
        if self.share < min_share:
            return Verdict.warn(f"{text}; below the {min_share:.0%} threshold", **meta)
        return Verdict.ok(text, **meta)


def universe_coverage(universe: pd.Series, traded: pd.Series) -> Coverage:
    """Set comparison of traded tickers (test symbols excluded) against the universe."""
    traded_frame, _ = drop_test_symbols(pd.DataFrame({"ticker": traded.astype(str)}))
    traded_set = set(traded_frame["ticker"])
    universe_set = set(universe.astype(str))
    missing = sorted(traded_set - universe_set)
    return Coverage(
        traded=len(traded_set),
        covered=len(traded_set & universe_set),
        missing_tickers=first_few(missing),
        missing=len(missing),
        not_traded=len(universe_set - traded_set),
    )

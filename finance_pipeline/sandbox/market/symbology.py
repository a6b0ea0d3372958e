"""Symbology events of an opt-in market (`Market(symbology=True)`): renames, a ticker reused by
another company after a delisting, and identifiers missing as on the real service.

Drawn from their own generator after the universe, splits and dividends, and only among
generated names without splits or dividends, so no other listing's numbers change:
- two renames of names listed for the whole range: the company trades as `old` before session
  `k` and as `new` from it, same FIGIs and CIK, a new name. The vendor dates the first one's
  event on the Saturday after `k` (META began trading 2022-06-09, its event says 2022-06-11);
  the second is dated on `k` and has no composite FIGI on either ticker (share class only);
- one reuse: a listed-at-start name delisted inside the range, and a generated name that now
  lists two sessions later under the delisted symbol (its own symbol never trades);
- three other stocks lack ids: one its composite FIGI, one both FIGIs, one every id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from finance_pipeline.sandbox.market.profiles import RESERVED
from finance_pipeline.sandbox.market.universe import Universe, listings_frame

REUSE_GAP = 2  # sessions between the delisting and the new company's first session


@dataclass(frozen=True)
class Rename:
    index: int  # universe index of the company
    old: str
    new: str
    session: dt.date  # first session trading as `new`
    event_date: dt.date  # the vendor's ticker_change date (need not be a session)
    new_name: str


@dataclass(frozen=True)
class Reuse:
    ticker: str
    first: int  # universe index of the delisted company
    second: int  # universe index of the company that reuses the symbol
    delisted: dt.date  # first session the first company no longer trades
    relisted: dt.date  # first session of the second company


class Symbology:
    def __init__(
        self,
        rng: np.random.Generator,
        universe: Universe,
        sessions: list[dt.date],
        excluded: set[int],
    ) -> None:
        u, n = universe, len(sessions)
        self._universe, self._sessions = u, sessions
        free = ~u.special & ~u.is_otc
        free[list(excluded)] = False
        whole = np.flatnonzero(free & (u.list_k == 0) & (u.delist_k == n))
        gone = np.flatnonzero(free & (u.list_k == 0) & (u.delist_k <= n - REUSE_GAP - 1))
        if n < 6 or len(whole) < 3 or len(gone) < 1:
            raise ValueError("symbology needs >= 6 sessions and >= 50 tickers")
        # Renamed and reusing names trade every session (no warrants), so the intervals show.
        picks = np.array([i for i in rng.permutation(whole) if u.p_trade[i] == 1.0])
        if len(picks) < 3:
            raise ValueError("symbology needs >= 6 sessions and >= 50 tickers")
        taken = {*u.ticker_index, *RESERVED}
        self.renames = [self._rename(int(picks[0]), n // 3, True, taken)]
        self.renames.append(self._rename(int(picks[1]), (2 * n) // 3, False, taken))
        first = int(gone[np.argmin(u.delist_k[gone])])
        self.reuses = [self._reuse(first, int(picks[2]))]
        self._drop_ids(rng, free, np.array([*picks[:3], first]))

    def _rename(self, i: int, k: int, saturday: bool, taken: set[str]) -> Rename:
        u = self._universe
        old = str(u.symbols[i])
        stem = old if len(old) < 5 else old[:4]
        new = next(stem + ch for ch in "ZYXWVQ" if stem + ch not in taken)
        taken.add(new)
        day = self._sessions[k]
        event = day + dt.timedelta(days=(5 - day.weekday()) % 7 or 7) if saturday else day
        if not saturday:
            u.composite[i] = None
        name = f"{str(u.names[i]).split()[0]} Platforms Inc."
        return Rename(i, old, new, day, event, name)

    def _reuse(self, first: int, second: int) -> Reuse:
        u = self._universe
        k = int(u.delist_k[first]) + REUSE_GAP
        u.list_k[second], u.list_date[second] = k, self._sessions[k]
        delisted = self._sessions[k - REUSE_GAP]
        return Reuse(str(u.symbols[first]), first, second, delisted, self._sessions[k])

    def _drop_ids(self, rng: np.random.Generator, free: np.ndarray, taken: np.ndarray) -> None:
        """Three other listed stocks lose ids: the composite FIGI; both FIGIs; all three."""
        u = self._universe
        pool = np.flatnonzero(free)
        a, b, c = rng.choice(pool[~np.isin(pool, taken)], size=3, replace=False)
        u.composite[[a, b, c]] = None
        u.share_class[[b, c]] = None
        u.cik[c] = None

    # ---- the market's view ------------------------------------------------------------------
    def symbols_at(self, k: int) -> np.ndarray:
        """Every listing's ticker on session index `k` (universe order)."""
        symbols = self._universe.symbols.copy()
        day = self._sessions[k]
        for r in self.renames:
            symbols[r.index] = r.new if day >= r.session else r.old
        for reuse in self.reuses:
            symbols[reuse.second] = reuse.ticker
        return symbols

    def segments(self) -> pd.DataFrame:
        """listings_frame with one row per (listing, ticker): a renamed company's old ticker
        ends (`delisted_date`) on the rename session, where its new one starts; `renamed`
        marks the old rows (not delistings)."""
        frame = listings_frame(self._universe)
        frame["renamed"] = False
        for reuse in self.reuses:
            frame.loc[reuse.second, "ticker"] = reuse.ticker
        rows = []
        for r in self.renames:
            new = frame.loc[r.index].copy()
            new["ticker"], new["name"], new["list_date"] = r.new, r.new_name, r.session
            frame.loc[r.index, ["delisted_date", "renamed"]] = [r.session, True]
            rows.append(new)
        frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
        frame["delisted_date"] = frame["delisted_date"].astype(object)
        frame = frame.sort_values(["ticker", "list_date"], kind="stable", ignore_index=True)
        return frame.where(frame.notna(), None)

    def tickers_as_of(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time rows: a renamed ticker is never inactive, only gone."""
        frame = self.segments()
        listed = np.array([d <= day for d in frame["list_date"]])
        gone = np.array([d is not None and d <= day for d in frame["delisted_date"]])
        keep = listed & (~gone if active else gone & ~frame["renamed"].to_numpy(dtype=bool))
        frame = frame[keep].drop(columns="renamed").reset_index(drop=True)
        frame["active"] = active
        if active:
            frame["delisted_date"] = None
            frame["delisted_utc"] = None
        else:
            frame["delisted_utc"] = pd.Series(
                [f"{d.isoformat()}T00:00:00Z" for d in frame["delisted_date"]], dtype=object
            )
        return frame

    def ticker_events(self, identifier: str, today: dt.date) -> dict | None:
        """The vendor's events body for a ticker or composite FIGI (newest first); a reused
        ticker means its latest holder listed by `today`."""
        frame = self.segments()
        frame = frame[frame["list_date"] <= today]
        hits = frame[(frame["ticker"] == identifier) | (frame["composite_figi"] == identifier)]
        if hits.empty:
            return None
        row = hits.sort_values("list_date").iloc[-1]
        same = frame[frame["share_class_figi"] == row["share_class_figi"]]
        if row["share_class_figi"] is None:
            same = hits.sort_values("list_date").iloc[-1:]
        events: list[dict[str, Any]] = [
            {
                "type": "ticker_change",
                "date": self._event_date(t, d).isoformat(),
                "ticker_change": {"ticker": t},
            }
            for t, d in zip(same["ticker"], same["list_date"], strict=True)
        ]
        events.sort(key=lambda e: str(e["date"]), reverse=True)
        body: dict = {"name": row["name"], "events": events}
        for field in ("composite_figi", "cik"):
            if row[field] is not None:
                body[field] = row[field]
        return body

    def _event_date(self, ticker: str, first: dt.date) -> dt.date:
        return next((r.event_date for r in self.renames if r.new == ticker), first)

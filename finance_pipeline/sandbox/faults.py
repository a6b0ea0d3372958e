"""Fault knobs of the sandbox (`sb.faults`): every fault is bounded by a count or lasts until
`clear()`, and each one changes exactly one observable thing.

REST transport faults (consumed one request at a time, in the order they were added; they hit
requests that passed auth and the rate limit, and do not count against the rate limit window;
`endpoint` is a label of `rest.routes.ENDPOINTS`, e.g. "grouped_daily", "aggs", "v3_splits",
"v1_dividends", "market_status", or None for any request):
- `server_errors(count, status=503, endpoint=None)`: the next `count` matching requests get
  `status` with a JSON error body.
- `rate_limit_storm(count, endpoint=None)`: the next `count` matching requests get the 429 body.
- `slow(seconds, count=1, endpoint=None)`: the next `count` matching requests are answered
  normally after `seconds`.
- `invalid_answers(kind, count=1, endpoint=None)`: the next `count` matching requests get
  HTTP 200 that is not data, as the real service sometimes answers: kind "results_null"
  (`"results": null` with status OK), "not_json" (an HTML page) or "empty" (status OK, no
  `results` key, counts 0: an empty whole-market answer on grouped daily).
- `hang(count=1, endpoint=None, max_seconds=120)`: the next `count` matching requests are held
  with no answer until the client disconnects or the sandbox stops (then the connection is
  closed without a response), at most `max_seconds` (<= 120), after which they get a 504.

REST data faults (last until `clear()`; `endpoint` is "grouped_daily" or "aggs" (per-ticker
aggregates of any timespan); `session` is the session whose rows are changed):
- `corrupt_price(endpoint, session, ticker, factor=10.0)`: o/h/l/c/vw of the ticker times factor.
- `drop_ticker(endpoint, session, ticker)`: the ticker's rows are missing.
- `duplicate_rows(endpoint, session, n=1)`: the first n rows of the answer appear twice.
- `volume_correction(endpoint, session, tickers=None, relative=0.001)`: volume times
  (1 + relative) for those tickers (None: all), like a vendor's late correction.
- `empty_grouped_daily(session)`: grouped daily answers 200 with resultsCount 0 on a session.

Vendor data defects (garbage tickers, bogus split rows, unlisted tickers, removed
endpoints): see `sandbox.defects`, whose knobs are methods of `Faults` too.

Flat-file faults (last until `clear()`; applied when the object is (re)published, and an already
published object is replaced at once; `dataset` is "day_aggs_v1" or "minute_aggs_v1"):
- `truncate(dataset, session)`: the object is a gzip stream cut in half.
- `remove(dataset, session)`: no object, even after its publish time (S3 answers 403 for it,
  like any unpublished session object; the listing does not show it).
- `late(dataset, session, delay)`: published `delay` after the normal publish time.
- `restate(dataset, session, tickers=None, price_factor=1.0, volume_delta=0.0)`: the vendor
  corrects the session: o/h/l/c times price_factor and volume plus volume_delta for those
  tickers (None: all). A new object (new ETag) is published, and the REST answers of the same
  granularity (day: grouped daily and day aggs; minute: minute/hour aggs) carry the corrected
  values too, as they would after a real correction. Restatements accumulate.
- `wrong_day(dataset, session)`: `window_start` values carry the next session's dates (the real
  2019-08-12 defect).
- `bad_header(dataset, session, header=...)`: the CSV header line is replaced.
- `keep_rows(dataset, session, share)`: the file is republished with only the first `share`
  of its rows (0: only the header line; 0.5: half of them), a valid but partial file.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from finance_pipeline.sandbox.defects import DefectFaults, check_endpoint, session_date
from finance_pipeline.sandbox.rest import routes
from finance_pipeline.sandbox.s3.objects import DATASETS

REST_ENDPOINTS = routes.ENDPOINTS
DATA_FAULT_ENDPOINTS = (routes.GROUPED_DAILY, routes.AGGS)
MAX_HANG_SECONDS = 120.0
DEFAULT_BAD_HEADER = "ticker,volume,open,close,high,low,timestamp,transactions"
PRICE_COLUMNS = ("open", "high", "low", "close")
INVALID_ANSWERS = ("results_null", "not_json", "empty")


@dataclass
class TransportFault:
    """One pending transport fault; `kind` is "error", "rate_limit", "slow", "hang", or one of
    INVALID_ANSWERS."""

    kind: str
    remaining: int
    endpoint: str | None = None
    status: int = 503
    seconds: float = 0.0


@dataclass(frozen=True)
class Restatement:
    tickers: frozenset[str] | None
    price_factor: float
    volume_delta: float


@dataclass
class FileFaults:
    """The flat-file faults on one (dataset, session); `version` changes with every edit."""

    version: int = 0
    truncate: bool = False
    remove: bool = False
    wrong_day: bool = False
    header: str | None = None
    delay: dt.timedelta = dt.timedelta(0)
    restatements: list[Restatement] = field(default_factory=list)
    keep_share: float | None = None


def _count(count: int) -> int:
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return int(count)


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown flat-file dataset {dataset!r}; expected one of {DATASETS}")
    return dataset


def _ticker_set(tickers: str | Iterable[str] | None) -> frozenset[str] | None:
    if tickers is None:
        return None
    return frozenset([tickers] if isinstance(tickers, str) else tickers)


class Faults(DefectFaults):
    """Thread-safe store of injected faults. The servers read it; tests write it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transport: list[TransportFault] = []
        self._data: dict[tuple[str, dt.date], list[tuple[str, dict]]] = defaultdict(list)
        self._empty_grouped: set[dt.date] = set()
        self._init_defects()
        self._files: dict[tuple[str, dt.date], FileFaults] = {}
        self._version = 0
        # Set by the sandbox: called (outside the lock) after a flat-file fault changed.
        self.on_flat_file_change: Callable[[str, dt.date], None] | None = None

    # ---- REST transport -------------------------------------------------------------------
    def server_errors(self, count: int = 1, status: int = 503, endpoint: str | None = None) -> None:
        if not 500 <= status <= 599:
            raise ValueError(f"server_errors needs a 5xx status, got {status}")
        self._add(TransportFault("error", _count(count), endpoint, status=status))

    def rate_limit_storm(self, count: int = 1, endpoint: str | None = None) -> None:
        self._add(TransportFault("rate_limit", _count(count), endpoint, status=429))

    def slow(self, seconds: float, count: int = 1, endpoint: str | None = None) -> None:
        if not 0 <= seconds <= MAX_HANG_SECONDS:
            raise ValueError(f"slow seconds must be within 0..{MAX_HANG_SECONDS}, got {seconds}")
        self._add(TransportFault("slow", _count(count), endpoint, seconds=float(seconds)))

    def invalid_answers(self, kind: str, count: int = 1, endpoint: str | None = None) -> None:
        if kind not in INVALID_ANSWERS:
            raise ValueError(f"unknown invalid answer {kind!r}; expected one of {INVALID_ANSWERS}")
        self._add(TransportFault(kind, _count(count), endpoint, status=200))

    def hang(
        self, count: int = 1, endpoint: str | None = None, max_seconds: float = MAX_HANG_SECONDS
    ) -> None:
        if not 0 < max_seconds <= MAX_HANG_SECONDS:
            raise ValueError(f"hang max_seconds must be within (0, {MAX_HANG_SECONDS}]")
        self._add(TransportFault("hang", _count(count), endpoint, seconds=float(max_seconds)))

    def _add(self, fault: TransportFault) -> None:
        check_endpoint(fault.endpoint, REST_ENDPOINTS)
        with self._lock:
            self._transport.append(fault)

    def take_transport(self, endpoint: str) -> TransportFault | None:
        """Consume one pending transport fault matching `endpoint`, if any."""
        with self._lock:
            for fault in self._transport:
                if fault.endpoint in (None, endpoint):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._transport.remove(fault)
                    return fault
        return None

    def pending_transport(self) -> int:
        """How many transport-faulted requests are still to come."""
        with self._lock:
            return sum(f.remaining for f in self._transport)

    # ---- REST data ------------------------------------------------------------------------
    def empty_grouped_daily(self, session: dt.date | str) -> None:
        with self._lock:
            self._empty_grouped.add(session_date(session))

    def corrupt_price(
        self, endpoint: str, session: dt.date | str, ticker: str, factor: float = 10.0
    ) -> None:
        self._add_data(endpoint, session, "corrupt_price", ticker=ticker, factor=float(factor))

    def drop_ticker(self, endpoint: str, session: dt.date | str, ticker: str) -> None:
        self._add_data(endpoint, session, "drop_ticker", ticker=ticker)

    def duplicate_rows(self, endpoint: str, session: dt.date | str, n: int = 1) -> None:
        self._add_data(endpoint, session, "duplicate_rows", n=_count(n))

    def volume_correction(
        self,
        endpoint: str,
        session: dt.date | str,
        tickers: str | Iterable[str] | None = None,
        relative: float = 0.001,
    ) -> None:
        tickers = _ticker_set(tickers)
        self._add_data(endpoint, session, "volume", tickers=tickers, relative=float(relative))

    def _add_data(self, endpoint: str, session: dt.date | str, kind: str, **params) -> None:
        if endpoint not in DATA_FAULT_ENDPOINTS:
            raise ValueError(f"data faults apply to {DATA_FAULT_ENDPOINTS}, not {endpoint!r}")
        with self._lock:
            self._data[(endpoint, session_date(session))].append((kind, params))

    def alters(self, endpoint: str, dataset: str, session: dt.date) -> bool:
        """Whether REST data faults of `endpoint` or restatements of `dataset` touch `session`
        (the servers take a fast path when nothing does)."""
        with self._lock:
            state = self._files.get((dataset, session))
            return bool(self._data.get((endpoint, session))) or bool(state and state.restatements)

    def is_grouped_daily_empty(self, session: dt.date) -> bool:
        with self._lock:
            return session in self._empty_grouped

    def apply_rest(self, endpoint: str, session: dt.date, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` (rows of one session, RAW values) with the data faults of that endpoint."""
        with self._lock:
            faults = list(self._data.get((endpoint, session), ()))
        for kind, params in faults:
            if kind == "corrupt_price":
                mask = frame["ticker"] == params["ticker"]
                frame = frame.copy()
                cols = [c for c in (*PRICE_COLUMNS, "vwap") if c in frame.columns]
                frame.loc[mask, cols] = frame.loc[mask, cols] * params["factor"]
            elif kind == "drop_ticker":
                frame = frame[frame["ticker"] != params["ticker"]]
            elif kind == "duplicate_rows":
                frame = pd.concat([frame, frame.iloc[: params["n"]]], ignore_index=True)
            elif kind == "volume":
                mask = _mask(frame, params["tickers"])
                frame = frame.copy()
                frame.loc[mask, "volume"] = frame.loc[mask, "volume"] * (1 + params["relative"])
        return frame

    # ---- flat files -----------------------------------------------------------------------
    def truncate(self, dataset: str, session: dt.date | str) -> None:
        self._edit_file(dataset, session, lambda f: setattr(f, "truncate", True))

    def remove(self, dataset: str, session: dt.date | str) -> None:
        self._edit_file(dataset, session, lambda f: setattr(f, "remove", True))

    def late(self, dataset: str, session: dt.date | str, delay: dt.timedelta) -> None:
        if delay < dt.timedelta(0):
            raise ValueError("late() needs a positive delay")
        self._edit_file(dataset, session, lambda f: setattr(f, "delay", delay))

    def wrong_day(self, dataset: str, session: dt.date | str) -> None:
        self._edit_file(dataset, session, lambda f: setattr(f, "wrong_day", True))

    def bad_header(
        self, dataset: str, session: dt.date | str, header: str = DEFAULT_BAD_HEADER
    ) -> None:
        self._edit_file(dataset, session, lambda f: setattr(f, "header", header))

    def keep_rows(self, dataset: str, session: dt.date | str, share: float) -> None:
        if not 0 <= share < 1:
            raise ValueError(f"keep_rows share must be within [0, 1), got {share}")
        self._edit_file(dataset, session, lambda f: setattr(f, "keep_share", float(share)))

    def restate(
        self,
        dataset: str,
        session: dt.date | str,
        tickers: str | Iterable[str] | None = None,
        price_factor: float = 1.0,
        volume_delta: float = 0.0,
    ) -> None:
        if price_factor <= 0:
            raise ValueError(f"price_factor must be > 0, got {price_factor}")
        change = Restatement(_ticker_set(tickers), float(price_factor), float(volume_delta))
        self._edit_file(dataset, session, lambda f: f.restatements.append(change))

    def _edit_file(self, dataset: str, session: dt.date | str, edit: Callable) -> None:
        key = (_check_dataset(dataset), session_date(session))
        with self._lock:
            state = self._files.setdefault(key, FileFaults())
            edit(state)
            self._version += 1
            state.version = self._version
        self._notify([key])

    def file_faults(self, dataset: str, session: dt.date) -> FileFaults | None:
        """A copy of the flat-file faults on (dataset, session), or None."""
        with self._lock:
            state = self._files.get((dataset, session))
            if state is None:
                return None
            return FileFaults(
                state.version,
                state.truncate,
                state.remove,
                state.wrong_day,
                state.header,
                state.delay,
                list(state.restatements),
                state.keep_share,
            )

    def file_version(self, dataset: str, session: dt.date) -> int:
        """0 when the file is pristine; changes whenever its faults change."""
        with self._lock:
            state = self._files.get((dataset, session))
            return state.version if state else 0

    def restated(self, dataset: str, session: dt.date, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with the restatements of (dataset, session) applied (used by every path)."""
        with self._lock:
            state = self._files.get((dataset, session))
            changes = list(state.restatements) if state else []
        for change in changes:
            mask = _mask(frame, change.tickers)
            frame = frame.copy()
            cols = [c for c in (*PRICE_COLUMNS, "vwap") if c in frame.columns]
            frame.loc[mask, cols] = frame.loc[mask, cols] * change.price_factor
            frame.loc[mask, "volume"] = frame.loc[mask, "volume"] + change.volume_delta
        return frame

    # ---- all ------------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every fault; faulted flat files are republished pristine."""
        with self._lock:
            self._transport.clear()
            self._data.clear()
            self._empty_grouped.clear()
            self._clear_defects()
            touched = list(self._files)
            self._files.clear()
        self._notify(touched)

    def _notify(self, keys: list[tuple[str, dt.date]]) -> None:
        callback = self.on_flat_file_change
        if callback is not None:
            for dataset, session in keys:
                callback(dataset, session)


def _mask(frame: pd.DataFrame, tickers: frozenset[str] | None) -> pd.Series:
    if tickers is None:
        return pd.Series(True, index=frame.index)
    return frame["ticker"].isin(tickers)

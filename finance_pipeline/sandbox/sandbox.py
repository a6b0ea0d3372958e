"""`Sandbox`: a local Polygon (REST + S3 flat files) over one seeded market, as tests, the demo
and `finance-pipeline sandbox` use it (see the package doc for plans, clock and rate limit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finance_pipeline.calendar import new_york_date, sessions_between
from finance_pipeline.sandbox.clock import Clock
from finance_pipeline.sandbox.faults import Faults
from finance_pipeline.sandbox.market import Market
from finance_pipeline.sandbox.rest.accounting import RequestRecord
from finance_pipeline.sandbox.rest.api import RestApi
from finance_pipeline.sandbox.rest.protocol import RestConfig
from finance_pipeline.sandbox.rest.server import RestServer
from finance_pipeline.sandbox.s3.objects import DATASETS, DAY_AGGS
from finance_pipeline.sandbox.s3.publisher import FlatFilePublisher
from finance_pipeline.sandbox.s3.server import S3Server

PLANS = ("paid", "free")
FREE_PLAN_LIMIT = 5
DEFAULT_SESSIONS = 42


@dataclass(frozen=True)
class Counters:
    """What the servers saw since start or the last `reset_counters()`."""

    rest_requests: Counter[str]  # endpoint name -> requests (every status)
    rest_statuses: Counter[int]  # HTTP status -> requests
    request_log: tuple[RequestRecord, ...]  # arrival order may interleave under concurrency
    s3_operations: Counter[str]  # "GetObject", "HeadObject", "ListObjectsV2", ...
    s3_statuses: Counter[int]
    s3_log: tuple[tuple[float, str, str, int], ...]  # (monotonic, operation, path, status)

    @property
    def rest_total(self) -> int:
        return sum(self.rest_requests.values())

    @property
    def s3_gets(self) -> int:
        return self.s3_operations["GetObject"]


def _derived(seed: int, purpose: str, length: int) -> str:
    return hashlib.sha256(f"finance_pipeline sandbox {purpose} {seed}".encode()).hexdigest()[
        :length
    ]


class Sandbox:
    """A local Polygon (REST + S3 flat files) over one seeded Market. Use as a context manager.

    Attributes once started: rest_url, s3_endpoint_url, api_key, s3_access_key_id,
    s3_secret_access_key, bucket ("flatfiles"), market, faults, now, start, end, plan,
    rate_limit, rate_limit_window_seconds; methods env(), set_now(), advance(), run_clock(),
    publish_due(), publish_time(), reset_counters(), s3_client(), open()/close() (what `with`
    calls); property counters.
    """

    bucket = "flatfiles"

    def __init__(
        self,
        tickers: int = 300,
        seed: int = 7,
        start: dt.date | None = None,
        end: dt.date | None = None,
        rate_limit_per_minute: int | None = None,
        plan: str = "paid",
        now: dt.datetime | None = None,
        flat_file_publish_time: dt.time = dt.time(11, 0),
        cache_dir: Path | str | None = None,
        rate_limit_window_seconds: float = 60.0,
        send_retry_after: bool = False,
        symbology: bool = False,
    ) -> None:
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {PLANS}, got {plan!r}")
        if rate_limit_per_minute is None and plan == "free":
            rate_limit_per_minute = FREE_PLAN_LIMIT
        if rate_limit_per_minute == 0:
            rate_limit_per_minute = None
        self.plan = plan
        self.tickers = tickers
        self.seed = seed
        self.rate_limit = rate_limit_per_minute
        self.rate_limit_window_seconds = float(rate_limit_window_seconds)
        self.flat_file_publish_time = flat_file_publish_time
        self.send_retry_after = send_retry_after
        self.symbology = symbology
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._clock = Clock(now)
        if end is None:
            end = new_york_date(self._clock())
        if start is None:
            start = sessions_between(end - dt.timedelta(days=120), end)[-DEFAULT_SESSIONS]
        if end < start:
            raise ValueError(f"sandbox end {end} is before start {start}")
        self.start, self.end = start, end
        self.api_key = "sbx_" + _derived(seed, "api key", 32)
        self.s3_access_key_id = "SBXA" + _derived(seed, "s3 key id", 16).upper()
        self.s3_secret_access_key = "sbxs_" + _derived(seed, "s3 secret", 35)
        self.faults = Faults()
        self.market: Market | None = None
        self.rest_url = ""
        self.s3_endpoint_url = ""
        self._admin_key = "SBXADMIN" + secrets.token_hex(6).upper()
        self._token = secrets.token_hex(16)
        self._rest: RestServer | None = None
        self._s3 = S3Server()
        self._publisher: FlatFilePublisher | None = None
        self._started = False

    def __repr__(self) -> str:
        return (
            f"Sandbox(plan={self.plan!r}, tickers={self.tickers}, seed={self.seed}, "
            f"start={self.start}, end={self.end}, rest_url={self.rest_url!r}, "
            f"s3_endpoint_url={self.s3_endpoint_url!r})"
        )

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def open(self) -> Sandbox:
        """Start both servers and publish what the clock says is due."""
        if self._started:
            raise RuntimeError("this sandbox is already running")
        self._started = True
        try:
            self._s3.spawn()  # the child imports moto while the market is built
            self.market = Market(
                seed=self.seed,
                tickers=self.tickers,
                start=self.start,
                end=self.end,
                cache_dir=self.cache_dir,
                symbology=self.symbology,
            )
            config = RestConfig(
                api_key=self.api_key,
                plan=self.plan,
                rate_limit=self.rate_limit,
                window_seconds=self.rate_limit_window_seconds,
                send_retry_after=self.send_retry_after,
                control_token=self._token,
            )
            api = RestApi(self.market, self.faults, self._clock, config, self._ensure)
            self._rest = RestServer(api)
            self.rest_url = self._rest.start()
            self.s3_endpoint_url = self._s3.start(
                access_key_id=self.s3_access_key_id,
                admin_key=self._admin_key,
                allow_client=self.plan == "paid",
                control_url=self.rest_url,
                token=self._token,
                secret_access_key=self.s3_secret_access_key,
            )
            admin = self._boto3_client(self._admin_key, "sandbox-admin")
            admin.create_bucket(Bucket=self.bucket)
            self._publisher = FlatFilePublisher(
                client=admin,
                bucket=self.bucket,
                market=self.market,
                faults=self.faults,
                clock=self._clock,
                publish_time=self.flat_file_publish_time,
            )
            self.faults.on_flat_file_change = self._publisher.touch
            self._publisher.sync()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop both servers; hung and slow requests are released, no thread is left behind."""
        self.faults.on_flat_file_change = None
        self._s3.stop()
        if self._rest is not None:
            self._rest.stop()
            self._rest = None

    # ---- clock and publishing -------------------------------------------------------------
    @property
    def now(self) -> dt.datetime:
        return self._clock()

    def set_now(self, moment: dt.datetime) -> None:
        """Freeze the clock at `moment` (aware) and publish/unpublish what that changes."""
        self._clock.set(moment)
        self.publish_due()

    def advance(self, delta: dt.timedelta) -> None:
        self._clock.advance(delta)
        self.publish_due()

    def run_clock(self, speed: float) -> None:
        """Let the clock run from its current moment at `speed` (sandbox seconds per real
        second); files are published as they fall due, when the bucket is next read."""
        self._clock.run(speed)

    def publish_due(self, minute: bool = False) -> int:
        """Publish every due day file (and minute file with `minute=True`; they are otherwise
        published on first access). Returns the number of objects written or deleted."""
        if self._publisher is None:
            return 0
        create = DATASETS if minute else (DAY_AGGS,)
        return self._publisher.sync(create=create)

    def publish_time(self, dataset: str, session: dt.date) -> dt.datetime:
        """When the flat file of (dataset, session) becomes visible (late faults included)."""
        assert self._publisher is not None, "start the sandbox first"
        return self._publisher.publish_at(dataset, session)

    def _ensure(self, prefix: str | None, key: str | None) -> None:
        if self._publisher is not None:
            self._publisher.sync(create=DATASETS, prefix=prefix, key=key)

    # ---- configuration for clients ------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment contract (finance_pipeline.settings) pointing at this sandbox."""
        per_minute = 0
        if self.rate_limit is not None:
            per_minute = math.floor(self.rate_limit * 60 / self.rate_limit_window_seconds)
        return {
            "POLYGON_API_KEY": self.api_key,
            "POLYGON_BASE_URL": self.rest_url,
            "POLYGON_PLAN": self.plan,
            "POLYGON_RATE_LIMIT_PER_MINUTE": str(per_minute),
            "FLATFILES_ENDPOINT_URL": self.s3_endpoint_url,
            "FLATFILES_ACCESS_KEY_ID": self.s3_access_key_id,
            "FLATFILES_SECRET_ACCESS_KEY": self.s3_secret_access_key,
            "FLATFILES_BUCKET": self.bucket,
        }

    def s3_client(self) -> Any:
        """A boto3 S3 client with this sandbox's client credentials (counted, plan-checked)."""
        return self._boto3_client(self.s3_access_key_id, self.s3_secret_access_key)

    def _boto3_client(self, key_id: str, secret: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint_url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", retries={"max_attempts": 2}),
        )

    # ---- counters -------------------------------------------------------------------------
    @property
    def counters(self) -> Counters:
        assert self._rest is not None, "start the sandbox first"
        by_endpoint, by_status, log = self._rest.api.counters.snapshot()
        s3 = self._s3.counts()
        return Counters(by_endpoint, by_status, log, s3.operations, s3.statuses, s3.log)

    def reset_counters(self) -> None:
        """Zero every counter and the logs (the rate-limit window is left as it is)."""
        assert self._rest is not None, "start the sandbox first"
        self._rest.api.counters.reset()
        self._s3.reset_counts()

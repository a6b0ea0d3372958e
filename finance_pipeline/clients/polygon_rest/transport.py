"""The one place Polygon HTTP happens: throttled, timed out, retried, counted.

`Transport.install` replaces the urllib3 PoolManager of an official `polygon.RESTClient`
(1.16.3) with `_MeteredPool`, so every request it makes (pages included) goes through
`Transport.send`, which (1) waits on the shared rate limiter, (2) applies real timeouts
(1.16.3 stores but never applies its own), (3) retries 429/5xx/connection errors/timeouts with
exponential backoff and jitter honouring Retry-After (urllib3's own retries are off, so every
attempt is throttled and counted), (4) counts each attempt per endpoint. Only HTTP 200 with a
valid JSON body reaches the official client, so its silent "non-JSON means []" path and its
`BadResponse` are never taken.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from finance_pipeline.clients.polygon_rest import errors
from finance_pipeline.clients.polygon_rest.accounting import Usage, endpoint_name
from finance_pipeline.clients.polygon_rest.answers import invalid_answer
from finance_pipeline.clients.rate_limit import RateLimiter
from finance_pipeline.redaction import redact

logger = logging.getLogger(__name__)

_MAX_RETRY_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed attempt is tried again."""

    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds before retry number `retry + 1`: exponential backoff with jitter, and at
        least the server's Retry-After (capped at five minutes)."""
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**retry)
        delay = delay / 2 + random.uniform(0, delay / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, _MAX_RETRY_AFTER_SECONDS))
        return delay


@dataclass(frozen=True)
class _Request:
    """One request the official client asked for, with its accounting label and a printable
    `where` (path and query, for messages)."""

    pool: urllib3.PoolManager
    method: str
    url: str
    fields: dict[str, Any] | None
    headers: dict[str, str] | None

    @property
    def endpoint(self) -> str:
        return endpoint_name(self.url)

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        query = "&".join(q for q in (parts.query, urlencode(self.fields or {})) if q)
        return parts.path + ("?" + query if query else "")


class _MeteredPool:
    """Stands in for the official client's urllib3 PoolManager (`.request` is all it uses)."""

    def __init__(self, pool: urllib3.PoolManager, transport: Transport) -> None:
        self._pool = pool
        self._transport = transport

    def request(
        self,
        method: str,
        url: str,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **_: Any,
    ) -> urllib3.BaseHTTPResponse:
        return self._transport.send(_Request(self._pool, method, url, fields, headers))

    def clear(self) -> None:
        self._pool.clear()


class Transport:
    """Sends requests for one client: its limiter, timeouts, retry policy and usage counters.

    `secrets` are masked in every log line and error message."""

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        timeout: urllib3.Timeout,
        limiter: RateLimiter | None,
        usage: Usage,
        secrets: Sequence[str],
    ) -> None:
        self.retry = retry
        self.timeout = timeout
        self.limiter = limiter
        self.usage = usage
        self._secrets = list(secrets)

    def install(self, rest: Any) -> None:
        """Route every request of an official RESTClient (and its vx client) through here."""
        rest.client = _MeteredPool(rest.client, self)
        vx = getattr(rest, "vx", None)
        if vx is not None:
            vx.client = _MeteredPool(vx.client, self)

    def send(self, request: _Request) -> urllib3.BaseHTTPResponse:
        """The 200 response with a JSON body; raises a PolygonError once retries are spent."""
        endpoint, where = request.endpoint, request.where
        retries = 0
        while True:
            outcome = self._attempt(request)
            if not isinstance(outcome, errors.Failure):
                return outcome
            if retries >= self.retry.max_retries:
                raise errors.exhausted(outcome, endpoint, where, retries, self._secrets)
            delay = self.retry.delay(retries, outcome.retry_after)
            retries += 1
            self.usage.retry(endpoint)
            logger.warning(
                redact(
                    f"Polygon {endpoint} {where}: {outcome.detail}; "
                    f"retry {retries}/{self.retry.max_retries} in {delay:.2f}s",
                    self._secrets,
                )
            )
            time.sleep(delay)

    def _slot(self) -> AbstractContextManager[float]:
        return self.limiter.slot() if self.limiter else nullcontext(0.0)

    def _attempt(self, request: _Request) -> urllib3.BaseHTTPResponse | errors.Failure:
        """One throttled, counted request: the response on success, else a Failure.

        Raises at once for answers that another attempt cannot change (401/403/4xx)."""
        with self._slot() as waited:
            self.usage.attempt(request.endpoint, waited)
            try:
                response = request.pool.request(
                    request.method,
                    request.url,
                    fields=request.fields,
                    headers=request.headers,
                    timeout=self.timeout,
                    retries=False,
                    redirect=False,
                    preload_content=True,
                )
            except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass
                return errors.Failure(f"connection failed ({type(exc).__name__}: {exc})")
            except urllib3.exceptions.ReadTimeoutError:
                return errors.Failure(f"read timed out after {self.timeout.read_timeout}s")
            except urllib3.exceptions.TimeoutError:
                return errors.Failure(f"connect timed out after {self.timeout.connect_timeout}s")
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                return errors.Failure(f"connection failed ({type(exc).__name__}: {exc})")
        return self._judge(response, request)

    def _judge(
        self, response: urllib3.BaseHTTPResponse, request: _Request
    ) -> urllib3.BaseHTTPResponse | errors.Failure:
        """The response when it is usable, a Failure when worth retrying; else raises."""
        status, endpoint, where = response.status, request.endpoint, request.where
        if status == 200:
            try:
                body = json.loads(response.data)
            except ValueError:
                return errors.Failure(
                    "HTTP 200 with a body that is not valid JSON (truncated?)", invalid=True
                )
            problem = invalid_answer(endpoint, request.url, body)
            if problem is not None:
                return errors.Failure(problem, invalid=True)
            return response
        detail = errors.body_detail(response.data)
        if status == 429:
            self.usage.rate_limited_once(endpoint)
        if errors.is_retryable(status):
            return errors.Failure(
                f"HTTP {status}: {detail}",
                rate_limited=status == 429,
                retry_after=errors.retry_after_seconds(response.headers.get("Retry-After")),
            )
        raise errors.refusal(status, detail, endpoint, where, self._secrets)

"""Polygon REST failures: the error classes callers catch, and how an HTTP answer maps to one.

An answer is either worth another attempt (`is_retryable`: 5xx, 429 and a few other transient
statuses; the transport keeps it as a `Failure`) or final (`refusal`: 401, 403, 4xx). Every
message is built here and redacted with the caller's secrets, so no error carries the key.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Iterable
from dataclasses import dataclass

from finance_pipeline.redaction import redact


class PolygonError(RuntimeError):
    """A Polygon request that failed for good; the message says why, without secrets."""


class PolygonAuthError(PolygonError): ...  # 401: key missing or unknown


class PolygonNotEntitledError(PolygonError): ...  # 403: plan, history window, today before EOD


class PolygonRateLimitedError(PolygonError): ...  # 429 after the retry budget


class PolygonBadRequestError(PolygonError): ...  # 400/404: bad parameter, unknown ticker


class PolygonUnavailableError(PolygonError): ...  # 5xx / timeouts after the retry budget


class PolygonInvalidAnswerError(PolygonUnavailableError): ...  # 200 but no data, retries spent


# Statuses worth another attempt besides every 5xx (413/499 are in the official client's list).
_TRANSIENT_STATUSES = frozenset({408, 413, 425, 429, 499})


@dataclass
class Failure:
    """Why an attempt did not succeed, kept for the final error message."""

    detail: str
    rate_limited: bool = False
    retry_after: float | None = None
    invalid: bool = False  # HTTP 200 that is not data (see `answers`)


def is_retryable(status: int) -> bool:
    """Whether another attempt may get a different answer to this HTTP status."""
    return status >= 500 or status in _TRANSIENT_STATUSES


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def body_detail(data: bytes) -> str:
    """The human part of an error body: Polygon's `error`/`message`, else the text itself."""
    text = data.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300] or "(empty body)"
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("status", "error", "message") if body.get(k)]
        if parts:
            return ": ".join(parts)
    return text[:300]


def _not_entitled_hint(detail: str) -> str:
    lowered = detail.lower()
    if "before end of day" in lowered or "today" in lowered:
        return (
            "the session has not ended for this plan yet (free plans get a session only after "
            "the end of day, sometimes after midnight New York time); try again later"
        )
    if "timeframe" in lowered:
        return "the date is outside the plan's history window (free plans: about 2 years)"
    return "the plan does not include this data (snapshots and flat files need a paid plan)"


def refusal(
    status: int, detail: str, endpoint: str, where: str, secrets: Iterable[str]
) -> PolygonError:
    """The error for an answer another attempt cannot change (401, 403, other 4xx)."""
    kind: type[PolygonError]
    if status == 401:
        kind = PolygonAuthError
        message = (
            f"Polygon rejected the API key on {endpoint} {where} (HTTP 401: {detail}); "
            "check POLYGON_API_KEY"
        )
    elif status == 403:
        kind = PolygonNotEntitledError
        message = (
            f"Polygon refused {endpoint} {where} (HTTP 403: {detail}): {_not_entitled_hint(detail)}"
        )
    elif status in (400, 404, 422):
        kind = PolygonBadRequestError
        message = f"Polygon rejected {endpoint} {where} as a bad request (HTTP {status}: {detail})"
    else:
        kind = PolygonError
        message = f"Polygon {endpoint} {where} failed (HTTP {status}: {detail})"
    return kind(redact(message, secrets))


def exhausted(
    failure: Failure, endpoint: str, where: str, retries: int, secrets: Iterable[str]
) -> PolygonError:
    """The error once the retry budget is spent: rate-limited, or unavailable."""
    if failure.rate_limited:
        message = (
            f"Polygon rate-limited {endpoint} {where} after {retries} retries "
            f"({failure.detail}); lower the rate limit to the plan's or try later"
        )
        return PolygonRateLimitedError(redact(message, secrets))
    if failure.invalid:
        message = (
            f"Polygon {endpoint} {where} gave no usable data after {retries} retries "
            f"(last: {failure.detail})"
        )
        return PolygonInvalidAnswerError(redact(message, secrets))
    message = (
        f"Polygon {endpoint} {where} unavailable after {retries} retries (last: {failure.detail})"
    )
    return PolygonUnavailableError(redact(message, secrets))

"""Polygon's REST protocol as the sandbox speaks it: configuration, responses, error bodies
and messages, query-parameter parsing and the time stamps of answers."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from finance_pipeline.calendar import NEW_YORK

MSG_NO_KEY = "API Key was not provided"
MSG_UNKNOWN_KEY = "Unknown API Key"
MSG_RATE_LIMIT = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://polygon.io/pricing"
)
MSG_NOT_ENTITLED = (
    "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"
)
MSG_TIMEFRAME = "Your plan doesn't include this data timeframe"
MSG_TODAY = "Attempted to request today's data before end of day"
NS_PER_MS = 1_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Query = dict[str, str]  # the last value of each query parameter
Body = dict[str, Any]


@dataclass(frozen=True)
class RestConfig:
    api_key: str
    plan: str  # "paid" | "free"
    rate_limit: int | None
    window_seconds: float
    send_retry_after: bool
    control_token: str


@dataclass
class Response:
    status: int
    body: Any  # JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    def __init__(self, status: int, body: Body, retry_after: float | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.retry_after = retry_after


def request_id() -> str:
    return uuid.uuid4().hex


def error_body(message: str, status: str = "ERROR") -> Body:
    return {"status": status, "request_id": request_id(), "error": message}


def bad_request(message: str) -> HttpError:
    return HttpError(400, error_body(message))


def not_authorized(message: str) -> HttpError:
    return HttpError(
        403, {"status": "NOT_AUTHORIZED", "request_id": request_id(), "message": message}
    )


def not_found() -> HttpError:
    return HttpError(
        404, {"status": "NOT_FOUND", "request_id": request_id(), "message": "Not Found"}
    )


def invalid_answer(kind: str) -> Response:
    """HTTP 200 that is not data (`Faults.invalid_answers`)."""
    if kind == "not_json":
        return Response(200, b"<html><body>502 Bad Gateway</body></html>")
    body: Body = {"status": "OK", "request_id": request_id(), "queryCount": 0, "resultsCount": 0}
    if kind == "results_null":
        body["results"] = None
    return Response(200, body)


def rate_limited(retry_after: float) -> HttpError:
    return HttpError(429, error_body(MSG_RATE_LIMIT), retry_after)


def query_bool(query: Query, name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise bad_request(f"{name} must be true or false, got {value!r}")


def query_int(query: Query, name: str, default: int, lo: int, hi: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {value!r}") from None
    if not lo <= number <= hi:
        raise bad_request(f"{name} must be between {lo} and {hi}, got {number}")
    return number


def parse_date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name} must be a date in YYYY-MM-DD form, got {value!r}") from None


def unix_ns(moment: dt.datetime) -> int:
    """Exact Unix nanoseconds of an aware moment (float seconds would lose ~100 ns)."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def midnight_ns(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), NEW_YORK).timestamp()) * 1_000_000_000


def ms_at(day: dt.date, clock: dt.time) -> int:
    return int(dt.datetime.combine(day, clock, NEW_YORK).timestamp() * 1000)


def json_number(value: float) -> float | int:
    """Whole floats as ints (split ratios, frequencies), like Polygon's JSON."""
    return int(value) if float(value).is_integer() else float(value)

"""The sandbox: a deterministic synthetic market served over Polygon's REST protocol and S3
flat files on 127.0.0.1. Product code never imports it; the CLI's sandbox/demo and tests do.

    with Sandbox(tickers=300, seed=7, now=dt.datetime(2025, 2, 3, 12, tzinfo=dt.UTC)) as sb:
        client = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url)
        os.environ.update(sb.env())

The clock: `now=None` follows real time (shifted by `advance`); `set_now` freezes it at a
moment (so does passing `now`). REST answers, flat-file publishing and plan rules all read it.
Default range: the ~2 months (42 sessions) up to the clock's New York date.

Plans: "paid" has no rate limit unless `rate_limit_per_minute` is given, the snapshot and flat
files. "free" has 5 requests per window by default, no snapshot, no today's data before the
New York day ends, and no flat files: the S3 endpoint exists and `env()` names it with the
credentials, but every client request is refused with 403 AccessDenied (as a key without a
flat-file entitlement would be).

Rate limit: L = `rate_limit_per_minute` admitted requests per sliding window of
`rate_limit_window_seconds` (default 60; tests compress it). `env()` reports
POLYGON_RATE_LIMIT_PER_MINUTE as L scaled to 60 s ("0": unlimited); tests that compress the
window should configure their client from `sb.rate_limit` / `sb.rate_limit_window_seconds`.

Layout: `sandbox` (the `Sandbox` object), `clock`, `market/` (the synthetic market: universe,
corporate actions, day and minute bars), `rest/` (REST conventions, endpoints and the HTTP
server), `s3/` (flat-file objects, publishing and the S3 child process), `faults` (every
knob), `serve` (the CLI's foreground sandbox).
"""

from finance_pipeline.sandbox.faults import Faults
from finance_pipeline.sandbox.rest.accounting import RequestRecord
from finance_pipeline.sandbox.s3.objects import object_key
from finance_pipeline.sandbox.sandbox import Counters, Sandbox

__all__ = ["Counters", "Faults", "RequestRecord", "Sandbox", "object_key"]

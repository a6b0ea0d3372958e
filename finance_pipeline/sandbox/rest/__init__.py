"""The sandbox's Polygon REST API: paths, JSON shapes, auth, plans, rate limit and errors of
`reference/polygon.md`, served on 127.0.0.1 so the unmodified `polygon.RESTClient(base=...)`
works against it.

Conventions chosen where Polygon leaves room (all relative to the sandbox clock `now`; "today"
is its New York date):
- Data appears when it is complete: a session's day bar (grouped daily, day aggs) once the
  session has closed, a minute bar once its minute has ended. Before that: 200 with no results.
- Grouped daily `t` is 16:00 New York of the session, half days included (as Polygon does).
- `adjusted=true` (the default) divides prices by, and multiplies volumes by, the product of the
  splits executed after the bar's session up to today (`Market.split_factor`); no rounding, so
  adjusted * factor gives back the raw value up to float error.
- A date after today: 403 NOT_AUTHORIZED "Your plan doesn't include this data timeframe".
  Free plan: today's date (grouped daily, or aggregates starting today) is 403 "Attempted to
  request today's data before end of day" for the whole New York day; ranges that include
  today stop at yesterday; history older than 2 years is 403 as well; the snapshot is 403.
- Rate limit: at most L admitted requests per key in any sliding window of W seconds; a request
  past it gets 429 (not admitted, so it does not use the window). Requests failing auth are not
  rate limited. A `Retry-After` header is sent only with `send_retry_after=True` (Polygon
  documents none).
- Reference endpoints list every split and dividend of the market (as if all were announced
  before the sandbox's range); `/v3/reference/splits` keeps the market's duplicated split row
  (a real vendor defect), `/stocks/v1/splits` is de-duplicated.
- `historical_adjustment_factor` (v1): for a split, 1 / (product of split ratios executed on or
  after its execution date, up to max(today, execution date)); for a dividend, the product over
  it and later dividends (up to today) of (1 - cash / previous session's raw close).
- Unsupported timespans (week, month, quarter, year, second) are 400.

Modules: `routes` (paths and endpoint labels), `protocol` (config, responses, errors, query
parsing), `accounting` (counters, rate limiter), `market_view` (plan rules, caches, split
adjustment), one module per endpoint family (`aggregates`, `tickers`, `corporate_actions`,
`market_status`; `paging` for the reference listings), `api` (auth and dispatch) and `server`
(the HTTP server). This package imports none of them, so `faults` can read `routes`.
"""

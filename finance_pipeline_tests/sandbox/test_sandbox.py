"""The Sandbox context manager: env contract, keys, clock, fault knobs, counters, shutdown."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import threading
import time

import polygon
import pytest
import urllib3
from botocore.exceptions import ClientError

from finance_pipeline import settings
from finance_pipeline.sandbox import Sandbox
from finance_pipeline.sandbox.serve import serve

D = dt.date.fromisoformat
WEEK = {"start": D("2025-01-27"), "end": D("2025-01-31")}
GROUPED = "/v2/aggs/grouped/locale/us/market/stocks/{}"


def get(sb, path: str, timeout: float | None = 30.0, **params):
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=timeout))
    headers = {"Authorization": f"Bearer {sb.api_key}"}
    response = http.request("GET", sb.rest_url + path, fields=params or None, headers=headers)
    return response.status, json.loads(response.data), response.headers


def grouped(sb, day: str, **kwargs) -> dict:
    rest = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url, retries=0)
    return {b.ticker: b for b in rest.get_grouped_daily_aggs(day, **kwargs)}


def wait_for(condition, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def threads_of(sb) -> list[threading.Thread]:
    port = sb.rest_url.rsplit(":", 1)[1]
    return [t for t in threading.enumerate() if t.name.startswith(f"sandbox-rest:{port}")]


def test_env_is_the_settings_contract(sandbox, monkeypatch):
    env = sandbox.env()
    assert set(env) <= set(settings.ENV_VARS)
    assert env["POLYGON_BASE_URL"] == sandbox.rest_url and not env["POLYGON_BASE_URL"].endswith("/")
    assert env["POLYGON_PLAN"] == "paid"
    assert env["POLYGON_RATE_LIMIT_PER_MINUTE"] == "0"
    assert env["FLATFILES_BUCKET"] == "flatfiles"
    assert env["FLATFILES_ENDPOINT_URL"] == sandbox.s3_endpoint_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert settings.env("POLYGON_API_KEY") == sandbox.api_key
    assert sandbox.api_key in settings.secret_values()
    assert sandbox.s3_secret_access_key in settings.secret_values()


def test_keys_are_derived_from_the_seed_and_look_secret():
    a, b, c = Sandbox(seed=7), Sandbox(seed=7), Sandbox(seed=8)
    assert re.fullmatch(r"sbx_[0-9a-f]{32}", a.api_key)
    assert (a.api_key, a.s3_access_key_id, a.s3_secret_access_key) == (
        b.api_key,
        b.s3_access_key_id,
        b.s3_secret_access_key,
    )
    assert a.api_key != c.api_key and a.s3_secret_access_key != c.s3_secret_access_key
    assert a.api_key not in repr(a) and a.s3_secret_access_key not in repr(a)


def test_clock_follows_real_time_until_set_and_refuses_naive_times():
    live = Sandbox()
    assert abs(live.now - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    live.advance(dt.timedelta(days=2))
    assert live.now - dt.datetime.now(dt.UTC) > dt.timedelta(days=1)
    moment = dt.datetime(2025, 1, 15, 12, tzinfo=dt.UTC)
    live.set_now(moment)
    assert live.now == moment
    live.advance(dt.timedelta(hours=1))
    assert live.now == moment + dt.timedelta(hours=1)
    with pytest.raises(ValueError, match="aware"):
        live.set_now(dt.datetime(2025, 1, 15, 12))


def test_default_range_is_about_two_months_before_the_clock():
    sb = Sandbox(now=dt.datetime(2025, 2, 3, 17, tzinfo=dt.UTC))
    assert sb.end == D("2025-02-03")
    assert D("2024-11-25") <= sb.start <= D("2024-12-06")


def test_server_errors_rate_limit_storm_and_recovery(fresh_sandbox):
    sb = fresh_sandbox(**WEEK)
    sb.faults.server_errors(2, status=502, endpoint="market_status")
    assert get(sb, GROUPED.format("2025-01-28"))[0] == 200  # other endpoints unaffected
    first, body, _ = get(sb, "/v1/marketstatus/now")
    assert first == 502 and body["status"] == "ERROR"
    assert get(sb, "/v1/marketstatus/now")[0] == 502
    assert get(sb, "/v1/marketstatus/now")[0] == 200  # bounded by its count

    sb.faults.server_errors(2, status=503)
    before = sb.counters.rest_requests["market_status"]
    retrying = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url, retries=3)
    assert retrying.get_market_status().market == "open"  # urllib3 retried past the 503s
    assert sb.counters.rest_requests["market_status"] - before == 3

    sb.faults.rate_limit_storm(1)
    status, body, headers = get(sb, "/v1/marketstatus/now")
    assert status == 429 and body["error"].startswith("You've exceeded the maximum requests")
    assert "Retry-After" not in headers
    assert get(sb, "/v1/marketstatus/now")[0] == 200


def test_retry_after_header_is_opt_in(fresh_sandbox):
    sb = fresh_sandbox(send_retry_after=True, rate_limit_per_minute=1, **WEEK)
    assert get(sb, "/v1/marketstatus/now")[0] == 200
    status, _, headers = get(sb, "/v1/marketstatus/now")
    assert status == 429 and int(headers["Retry-After"]) >= 1


def test_slow_and_hang_make_a_client_time_out_then_clear(fresh_sandbox):
    sb = fresh_sandbox(**WEEK)
    sb.faults.slow(30, count=1)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        get(sb, "/v1/marketstatus/now", timeout=0.3)
    assert get(sb, "/v1/marketstatus/now")[0] == 200
    sb.faults.hang(1, endpoint="grouped_daily")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        get(sb, GROUPED.format("2025-01-28"), timeout=0.3)
    assert sb.faults.pending_transport() == 0
    assert get(sb, GROUPED.format("2025-01-28"))[0] == 200
    # the hung request is dropped once the client went away: recorded without a status
    wait_for(lambda: 0 in sb.counters.rest_statuses, "the dropped hung request")


def test_a_hung_request_is_released_when_the_sandbox_stops(fresh_sandbox):
    sb = fresh_sandbox(**WEEK)
    sb.faults.hang(1)
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(get(sb, "/v1/marketstatus/now", timeout=None)[0])
        except Exception as exc:  # the connection is closed without an answer
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(lambda: sb.faults.pending_transport() == 0, "the request to hang")
    sb.close()
    caller.join(20)
    assert not caller.is_alive()
    assert isinstance(outcome[0], urllib3.exceptions.HTTPError)
    wait_for(lambda: not threads_of(sb), "sandbox threads to end")


def test_rest_data_faults_change_only_their_target(fresh_sandbox):
    sb = fresh_sandbox(**WEEK)
    day = "2025-01-29"
    raw = grouped(sb, day, adjusted=False)
    sb.faults.corrupt_price("grouped_daily", day, "AAPL", factor=10)
    sb.faults.volume_correction("grouped_daily", day, ["NVDA"], relative=0.001)
    faulty = grouped(sb, day, adjusted=False)
    assert faulty["AAPL"].close == pytest.approx(raw["AAPL"].close * 10)
    assert faulty["NVDA"].volume == pytest.approx(raw["NVDA"].volume * 1.001)
    assert faulty["NVDA"].close == raw["NVDA"].close
    assert faulty["BRK.A"] == raw["BRK.A"]
    rest = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url)
    day_bar = rest.get_aggs("AAPL", 1, "day", day, day, adjusted=False)[0]
    assert day_bar.close == raw["AAPL"].close  # another endpoint: untouched

    sb.faults.drop_ticker("aggs", day, "AAPL")
    bars = rest.get_aggs("AAPL", 1, "day", "2025-01-28", "2025-01-30", adjusted=False)
    assert len(bars) == 2
    assert rest.get_aggs("AAPL", 1, "minute", day, day, adjusted=False) == []

    sb.faults.duplicate_rows("grouped_daily", "2025-01-28", n=3)
    rows = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url).get_grouped_daily_aggs(
        "2025-01-28"
    )
    assert len(rows) == len({r.ticker for r in rows}) + 3

    sb.faults.empty_grouped_daily("2025-01-30")
    assert grouped(sb, "2025-01-30") == {}

    sb.faults.clear()
    assert grouped(sb, day, adjusted=False) == raw
    assert len(grouped(sb, "2025-01-30")) > 200


def test_fault_knobs_refuse_unknown_targets():
    sb = Sandbox(**WEEK)
    with pytest.raises(ValueError, match="grouped_daily"):
        sb.faults.corrupt_price("snapshot", "2025-01-29", "AAPL")
    with pytest.raises(ValueError, match="day_aggs_v1"):
        sb.faults.truncate("trades_v1", "2025-01-29")
    with pytest.raises(ValueError, match="unknown endpoint"):
        sb.faults.server_errors(1, endpoint="nope")
    with pytest.raises(ValueError, match="120"):
        sb.faults.hang(1, max_seconds=600)


def test_reset_counters_zeroes_rest_and_s3(fresh_sandbox):
    sb = fresh_sandbox(**WEEK)
    get(sb, "/v1/marketstatus/now")
    sb.s3_client().list_objects_v2(Bucket=sb.bucket, Prefix="us_stocks_sip/day_aggs_v1/")
    counters = sb.counters
    assert counters.rest_total == 1 and counters.s3_operations["ListObjectsV2"] == 1
    sb.reset_counters()
    counters = sb.counters
    assert counters.rest_total == 0 and not counters.request_log
    assert not counters.s3_operations and not counters.s3_log


def test_exit_leaves_no_threads_and_no_child_process():
    with Sandbox(**WEEK, now=dt.datetime(2025, 2, 3, 17, tzinfo=dt.UTC)) as sb:
        rest = polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url)
        rest.get_market_status()  # leaves a kept-alive connection open
        sb.s3_client().list_objects_v2(Bucket=sb.bucket)
        child = sb._s3._proc
        assert child is not None and child.poll() is None
        assert threads_of(sb)
        url = sb.rest_url
    assert child.poll() is not None
    wait_for(lambda: not threads_of(sb), "sandbox threads to end")
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.PoolManager(retries=False).request("GET", url + "/v1/marketstatus/now")


def test_serve_prints_exports_and_stops(tmp_path):
    out, stop = io.StringIO(), threading.Event()
    runner = threading.Thread(
        target=serve,
        kwargs={
            "tickers": 50,
            "now": dt.datetime(2025, 2, 3, 17, tzinfo=dt.UTC),
            "start": WEEK["start"],
            "end": WEEK["end"],
            "cache_dir": tmp_path,
            "out": out,
            "stop": stop,
        },
    )
    runner.start()
    try:
        wait_for(lambda: "Ctrl-C" in out.getvalue(), "serve() to print its exports")
        exports = dict(
            re.match(r"export (\w+)=(.*)", line).groups()
            for line in out.getvalue().splitlines()
            if line.startswith("export ")
        )
        assert set(exports) == set(Sandbox().env())
        http = urllib3.PoolManager(retries=False)
        response = http.request(
            "GET",
            exports["POLYGON_BASE_URL"] + "/v1/marketstatus/now",
            headers={"Authorization": f"Bearer {exports['POLYGON_API_KEY']}"},
        )
        assert response.status == 200
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()


def test_secrets_stay_out_of_logs(fresh_sandbox, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="finance_pipeline")
    sb = fresh_sandbox(rate_limit_per_minute=2, **WEEK)
    http = urllib3.PoolManager(retries=False)
    for _ in range(3):
        http.request("GET", f"{sb.rest_url}/v1/marketstatus/now?apiKey={sb.api_key}")
    http.request("GET", f"{sb.rest_url}/v2/aggs/grouped/locale/us/market/stocks/bad")
    stranger = sb._boto3_client(sb.s3_access_key_id, "wrong-secret")
    with pytest.raises(ClientError) as refused:
        stranger.list_objects_v2(Bucket=sb.bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    sb.close()
    captured = capfd.readouterr()
    for secret in (sb.api_key, sb.s3_secret_access_key):
        assert secret not in caplog.text
        assert secret not in captured.out and secret not in captured.err

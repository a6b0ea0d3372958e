"""A webhook URL that urllib cannot use (no scheme, a space in its path or query) must not leak
its token: the alert sensor's output, its logs and the delivery error name the variable, never
the URL or any part of it. The token is searched in everything the tick produced."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from finance_pipeline.checks.alerts import WEBHOOK_ENV
from finance_pipeline.redaction import MASK, redact
from finance_pipeline_tests.checks.test_alerts import run_checks, tick
from finance_pipeline_tests.reliability.figures import REGISTRY

TOKEN = "xoxb-7781-wEbHoOkT0kEn-4f2a9c"
URLS = {
    "no scheme": f"hooks.example.com/services/{TOKEN}",
    "a space in the path": f"https://hooks.example.com/services/a b/{TOKEN}",
    "a space in the query": f"https://hooks.example.com/alerts?token={TOKEN}&x=a b",
    "a newline in the path": f"https://hooks.example.com/{TOKEN}\n/x",
}


@pytest.mark.parametrize("kind", list(URLS))
def test_a_malformed_webhook_url_never_shows_its_token(kind, monkeypatch, caplog, figure):
    REGISTRY.add_secret("a webhook token", TOKEN)
    figure.category, figure.scenario = "secrets", f"alert webhook URL with {kind}"
    monkeypatch.setenv(WEBHOOK_ENV, URLS[kind])
    caplog.set_level(logging.DEBUG)
    figure.faults_injected += 1
    figure.runs += 1
    with dg.instance_for_test() as instance:
        run_checks(instance)
        try:
            result = tick(instance, None)
            shown = f"{result.skip_message} {result.cursor}"
        except Exception as exc:  # what the daemon would show for the tick
            shown = f"{type(exc).__name__}: {exc}"
    seen = shown + "\n" + caplog.text
    REGISTRY.add_text(f"alert sensor tick, webhook URL with {kind}", seen)
    figure.secrets_found += seen.count(TOKEN)
    clear = "alert delivery failed" in shown and WEBHOOK_ENV in shown
    figure.runs_failed_clearly += int(clear)

    assert TOKEN not in seen
    assert clear, shown


def test_redaction_masks_the_parts_of_a_secret_url_an_error_quotes(monkeypatch):
    url = f"https://user:pa55word-long@hooks.example.com/services/{TOKEN}?sig=abcdef123456"
    monkeypatch.setenv(WEBHOOK_ENV, url)
    for quoted in (url, url.split("://")[1], f"/services/{TOKEN}", TOKEN, "sig=abcdef123456"):
        text = redact(f"URL can't contain control characters. {quoted!r}")
        assert TOKEN not in text and "abcdef123456" not in text and MASK in text
    assert "pa55word-long" not in redact("bad userinfo user:pa55word-long")
    assert redact("connecting to hooks.example.com failed") == (
        "connecting to hooks.example.com failed"
    )

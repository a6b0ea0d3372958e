"""The environment contract is checked in one place: a rule for every variable, and the code
location refuses to load on a bad value with one line naming it."""

from __future__ import annotations

import pytest

from finance_pipeline.configuration import RULES, ConfigError, check, validate
from finance_pipeline.definitions import build_definitions
from finance_pipeline.settings import ENV_VARS


def test_every_variable_of_the_contract_has_a_rule():
    assert set(RULES) == set(ENV_VARS)


def test_the_defaults_are_valid(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    validate()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FINANCE_PIPELINE_EXECUTOR", "bogus"),
        ("FINANCE_PIPELINE_CORRECTION_SCHEDULE_TIME", "12:60"),
        ("FINANCE_PIPELINE_AUTOMATION_INTERVAL", "-5"),
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "5.5"),
        ("FINANCE_PIPELINE_LAKE", "s3://"),
        ("FINANCE_PIPELINE_LAKE", "gs://bucket/x"),
        ("FLATFILES_BUCKET", "no/slashes"),
    ],
)
def test_the_definitions_refuse_to_load_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as excinfo:
        build_definitions()
    message = str(excinfo.value)
    assert message.startswith(f"{name} is {value!r}: it must be ") and "\n" not in message


@pytest.mark.parametrize(
    "url", ["hooks.example.com/T0KEN-123", "https://hooks.example.com/a b/T0KEN-123", "https://"]
)
def test_a_bad_secret_is_named_but_never_shown(monkeypatch, url):
    monkeypatch.setenv("FINANCE_PIPELINE_ALERT_WEBHOOK_URL", url)
    with pytest.raises(ConfigError) as excinfo:
        check("FINANCE_PIPELINE_ALERT_WEBHOOK_URL")
    assert "FINANCE_PIPELINE_ALERT_WEBHOOK_URL" in str(excinfo.value)
    assert "T0KEN" not in str(excinfo.value) and "hooks" not in str(excinfo.value)


def test_dagster_home_is_not_the_code_locations_business(monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "relative")
    validate(instance=False)
    with pytest.raises(ConfigError, match="DAGSTER_HOME is 'relative'"):
        validate()

"""Checking the environment contract (`settings.ENV_VARS`) once, at start: every variable the
pipeline reads has a rule here, and a bad value is one `ConfigError` line naming the variable,
its value (never a secret's) and what is allowed. The CLI checks before any command, the code
location before it builds its definitions, so no later step fails with a stack trace."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from finance_pipeline.router.model import TICKER_SYMBOL
from finance_pipeline.settings import ENV_VARS, env

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")


class ConfigError(ValueError):
    """A variable of the environment contract with an unusable value; one line."""


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname and not re.search(r"\s", value):
        return None
    return "an http:// or https:// URL with a host and no spaces"


def _base_url(value: str) -> str | None:
    return _url(value) or ("a URL without a trailing slash" if value.endswith("/") else None)


def _choice(*allowed: str) -> Callable[[str], str | None]:
    def rule(value: str) -> str | None:
        return None if value.lower() in allowed else " or ".join(allowed)

    return rule


def _whole(minimum: int) -> Callable[[str], str | None]:
    def rule(value: str) -> str | None:
        ok = re.fullmatch(r"\d+", value) is not None and int(value) >= minimum
        return None if ok else f"a whole number of at least {minimum}"

    return rule


def _clock(value: str) -> str | None:
    match = _HH_MM.fullmatch(value)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return None
    return "a New York time of day as HH:MM, 00:00 to 23:59 (for example 00:45)"


def _lake(value: str) -> str | None:
    if value.startswith("s3://"):
        bucket = value[len("s3://") :].split("/", 1)[0]
        if not bucket:
            return "s3://bucket/prefix (this has no bucket) or a local directory"
        return None if _BUCKET.fullmatch(bucket) else "s3://bucket/prefix with a valid bucket"
    if "://" in value:
        return "a local directory or s3://bucket/prefix"
    return None


def _watchlist(value: str) -> str | None:
    bad = [
        t.strip() for t in value.split(",") if t.strip() and not TICKER_SYMBOL.fullmatch(t.strip())
    ]
    return f"comma-separated ticker symbols ({bad[0]!r} is not one)" if bad else None


def _bucket(value: str) -> str | None:
    return None if _BUCKET.fullmatch(value) else "an S3 bucket name (3-63 of a-z 0-9 . -)"


def _absolute(value: str) -> str | None:
    return None if Path(value).expanduser().is_absolute() else "an absolute directory path"


def _anything(value: str) -> str | None:
    return None


def _positive_number(value: str) -> str | None:
    try:
        ok = float(value) > 0
    except ValueError:
        ok = False
    return None if ok else "a number above 0 (for example 60)"


def _redis_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("redis", "rediss") and parts.hostname and not re.search(r"\s", value):
        return None
    return "a redis:// or rediss:// URL with a host"


# Every variable of settings.ENV_VARS -> what a usable value is (None: it is one).
RULES: dict[str, Callable[[str], str | None]] = {
    "POLYGON_API_KEY": _anything,
    "POLYGON_BASE_URL": _base_url,
    "POLYGON_PLAN": _choice("free", "paid"),
    "POLYGON_RATE_LIMIT_PER_MINUTE": _whole(0),
    "POLYGON_RATE_LIMIT_WINDOW_SECONDS": _positive_number,
    "FINANCE_PIPELINE_RATE_LIMIT_STORE": _choice("auto", "sqlite", "postgres"),
    "FLATFILES_ENDPOINT_URL": _url,
    "FLATFILES_ACCESS_KEY_ID": _anything,
    "FLATFILES_SECRET_ACCESS_KEY": _anything,
    "FLATFILES_BUCKET": _bucket,
    "FINANCE_PIPELINE_LAKE": _lake,
    "FINANCE_PIPELINE_LAKE_ENDPOINT_URL": _url,
    "FINANCE_PIPELINE_WATCHLIST": _watchlist,
    "FINANCE_PIPELINE_ALERT_WEBHOOK_URL": _url,
    "FINANCE_PIPELINE_DAILY_SCHEDULE_TIME": _clock,
    "FINANCE_PIPELINE_CORRECTION_SCHEDULE_TIME": _clock,
    "FINANCE_PIPELINE_CORRECTION_SESSIONS": _whole(1),
    "FINANCE_PIPELINE_FLAT_FILE_WINDOW_SESSIONS": _whole(1),
    "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL": _whole(1),
    "FINANCE_PIPELINE_AUTOMATION_INTERVAL": _whole(1),
    "FINANCE_PIPELINE_EXECUTOR": _choice("in_process", "celery", "k8s"),
    "FINANCE_PIPELINE_CELERY_BROKER_URL": _redis_url,
    "FINANCE_PIPELINE_GIT_URL": _url,
    "FINANCE_PIPELINE_GIT_BRANCH": _anything,
    "FINANCE_PIPELINE_SANDBOX_SPEED": _positive_number,
    "DAGSTER_HOME": _absolute,
}
# Read by the CLI and the Dagster instance, not by the code location.
INSTANCE_VARS = ("DAGSTER_HOME",)


def check(name: str) -> str:
    """The value of `name` (its default when unset), or ConfigError naming what is allowed."""
    value = env(name) or ""
    allowed = RULES[name](value) if value else None
    if allowed is None:
        return value
    shown = "(a secret, not shown)" if ENV_VARS[name][1] else f"is {value!r}"
    raise ConfigError(f"{name} {shown}: it must be {allowed}")


def clock_time(name: str) -> dt.time:
    """An HH:MM variable as a time of day."""
    hour, minute = check(name).split(":")
    return dt.time(int(hour), int(minute))


def positive_int(name: str) -> int:
    return int(check(name))


def _env_references(node: Any) -> Iterator[str]:
    """The variable names of every `{env: NAME}` in a parsed dagster.yaml."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            yield node["env"]
        for value in node.values():
            yield from _env_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _env_references(value)


def check_instance_yaml(home: Path) -> None:
    """Every `{env: NAME}` of `home/dagster.yaml` is set (Dagster would print five stack traces)."""
    import yaml

    path = home / "dagster.yaml"
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path} cannot be read as YAML: {str(exc).splitlines()[0]}") from None
    missing = [n for n in dict.fromkeys(_env_references(data)) if not os.environ.get(n, "").strip()]
    if missing:
        raise ConfigError(
            f"{path} reads {', '.join(missing)} from the environment, and "
            f"{'they are' if len(missing) > 1 else 'it is'} not set"
        )


def validate(instance: bool = True) -> None:
    """Check every variable (`instance`: also DAGSTER_HOME and its dagster.yaml); ConfigError
    for the first bad one."""
    for name in RULES:
        if instance or name not in INSTANCE_VARS:
            check(name)
    home = env("DAGSTER_HOME")
    if instance and home:
        check_instance_yaml(Path(home).expanduser())

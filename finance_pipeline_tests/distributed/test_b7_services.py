"""B7 without PostgreSQL or Redis installed records one error line instead of crashing the
suite (a missing server used to raise pytest's Skipped, which no `except Exception` catches)."""

from __future__ import annotations

import pytest

from bench import b7_workers
from bench.__main__ import _guarded
from finance_pipeline_tests import servers


def _start_services() -> dict[str, dict[str, object]]:
    with b7_workers._shared_services():
        return {}


@pytest.mark.parametrize(
    ("missing", "named"),
    [("_postgres_bin_dir", "`postgresql`"), ("_redis_binary", "`redis-server`")],
)
def test_a_missing_server_is_one_recorded_error_line(monkeypatch, missing, named):
    monkeypatch.setattr(servers, missing, lambda: None)
    errors: dict[str, str] = {}
    try:
        figures = _guarded("b7", _start_services, errors)
    except BaseException as escaped:  # pytest's Skipped/Failed are BaseExceptions
        pytest.fail(f"B7 crashed instead of recording the error: {escaped!r}")
    assert figures == {}
    assert errors["b7"].startswith("ServerMissing: ")
    assert named in errors["b7"] and "\n" not in errors["b7"]

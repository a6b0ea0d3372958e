"""The plan as the CLI's text table."""

from finance_pipeline.calendar import sessions_between
from finance_pipeline.router.model import Credentials, Request
from finance_pipeline.router.routing import plan
from finance_pipeline.router.text import format_plan
from finance_pipeline_tests.router.support import LATER, PAID_NO_FILES, SP500, YEAR_2024, D, ny


def test_format_plan_shows_sources_totals_and_the_old_path():
    days = YEAR_2024[-5:]
    now = ny("2024-12-31T17:00")
    creds = Credentials(rate_limit_per_minute=5, flat_files=True, free_plan=False)
    p = plan(Request("daily_bars", days, SP500, now, stored=frozenset(days[:1])), creds)
    text = format_plan(p)
    lines = text.splitlines()
    assert any(line.split()[:3] == ["flat_file", "3", "0"] for line in lines)
    assert any(line.split()[:3] == ["grouped_daily", "1", "1"] for line in lines)
    assert any(line.split()[:4] == ["total", "4", "1", "3"] for line in lines)
    assert f"{500 * 4:,} calls" in text
    assert "skipped" in text and "unavailable" not in text


def test_format_plan_lists_unavailable_reasons_once():
    days = sessions_between(D("2024-11-25"), D("2024-12-27"))
    text = format_plan(plan(Request("minute_bars", days, None, LATER), PAID_NO_FILES))
    assert text.count("unavailable:") == 1

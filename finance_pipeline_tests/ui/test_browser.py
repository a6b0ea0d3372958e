"""What a person sees in a real browser (Debian's Chromium driven by Playwright) after a
range run: the asset graph, a daily_bars session's own figures, a check's Partitions tab."""

from __future__ import annotations

import os

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline_tests.ui.pages import open_asset_graph, open_check_partitions, open_partition
from finance_pipeline_tests.ui.scenario import RangeRun
from finance_pipeline_tests.ui.webserver import CHROMIUM, browser_page

pytestmark = [
    pytest.mark.slow,
    # CI must run it (.ci/run installs Chromium); elsewhere a missing browser skips it.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
    ),
]


def test_asset_graph_shows_both_layers_and_every_check_passed(ui_url: str) -> None:
    """open_asset_graph waits until each group, expanded, shows its members (grouped_daily_bars
    in sources, daily_bars in curated); the graph renders only the nodes in view and centres
    on the group expanded last, so the assertions read the curated group."""
    with browser_page(width=2600, height=2400) as page:
        open_asset_graph(page, ui_url)
        text = page.inner_text("body")
    for shown in ("curated", "sources", "daily_bars", "minute_bars", "adjustment_factors"):
        assert shown in text
    assert "6 / 6 Passed" in text  # daily_bars: every check of its latest sessions passed


def test_a_daily_bars_session_page_shows_its_own_rows(range_run: RangeRun, ui_url: str) -> None:
    session = range_run.sessions[2]
    own = Lake(str(range_run.lake)).read("daily_bars", session).num_rows
    total = sum(
        Lake(str(range_run.lake)).read("daily_bars", s).num_rows for s in range_run.sessions
    )
    with browser_page() as page:
        open_partition(page, ui_url, "daily_bars", session.isoformat())
        rows = page.get_by_role("row").filter(has_text="dagster/row_count").first.inner_text()
        source = page.get_by_role("row").filter(has_text="source").first.inner_text()
    assert rows.split()[-1].replace(",", "") == str(own)
    assert str(total) not in rows.replace(",", "")
    assert "flat_file_day_aggs" in source


def test_a_check_partitions_tab_shows_every_session_passed(
    range_run: RangeRun, ui_url: str
) -> None:
    with browser_page() as page:
        open_check_partitions(page, ui_url, "daily_bars", "row_count")
        text = page.inner_text("body")
    assert f"Passed ({len(range_run.sessions)})" in text.replace("\n", " ")
    assert "Skipped (0)" in text.replace("\n", " ")

"""The UI pages the browser test asserts and the screenshots show, driven like a person would."""

from __future__ import annotations

from typing import Any

# Generous: the UI loads its bundle and statuses on a machine shared by several test runs.
TIMEOUT_MS = 60_000


def dismiss_welcome(page: Any) -> None:
    """A fresh profile gets Dagster's community dialog once; skip it when it shows."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=10_000)
    except Exception:
        return
    skip.click()


def open_asset_graph(page: Any, url: str) -> None:
    """The global lineage with both groups expanded (they open collapsed), statuses loaded."""
    page.goto(f"{url}/asset-groups", timeout=TIMEOUT_MS)
    dismiss_welcome(page)
    page.get_by_text("7 assets").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("fetching statuses").first.wait_for(state="detached", timeout=TIMEOUT_MS)
    for group, member in (("sources", "grouped_daily_bars"), ("curated", "daily_bars")):
        page.get_by_text(group, exact=True).filter(visible=True).last.dblclick()
        page.get_by_text(member, exact=True).filter(visible=True).first.wait_for(timeout=TIMEOUT_MS)


def open_partition(page: Any, url: str, asset: str, key: str) -> None:
    """An asset's Partitions tab on one partition, its metadata shown."""
    page.goto(f"{url}/assets/{asset}?view=partitions&partition={key}", timeout=TIMEOUT_MS)
    dismiss_welcome(page)
    page.get_by_text("dagster/row_count").first.wait_for(timeout=TIMEOUT_MS)


def open_check_partitions(page: Any, url: str, asset: str, check: str) -> None:
    """A check's Partitions tab (the check detail's own tab, not the asset's)."""
    page.goto(f"{url}/assets/{asset}?view=checks&checkDetail={check}", timeout=TIMEOUT_MS)
    dismiss_welcome(page)
    page.get_by_text("Execution history").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Partitions").last.click()
    page.get_by_text("Passed (").first.wait_for(timeout=TIMEOUT_MS)

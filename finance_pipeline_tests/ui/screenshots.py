"""Regenerate the README's UI screenshots from `make demo` then `make ui`, taken with Debian's
Chromium through Playwright: `make screenshots` (python -m finance_pipeline_tests.ui.screenshots).

Works in a temporary instance and lake, so the user's .demo is left alone; writes
docs/ui_asset_graph.png, docs/ui_daily_bars_session.png and docs/ui_check_partitions.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from finance_pipeline_tests.ui.pages import (
    open_asset_graph,
    open_check_partitions,
    open_partition,
)
from finance_pipeline_tests.ui.webserver import browser_page, free_port, graphql, wait_until_serving

DOCS = Path(__file__).resolve().parents[2] / "docs"
CLI = shutil.which("finance-pipeline") or str(Path(sys.executable).with_name("finance-pipeline"))
SHOTS = {
    "graph": DOCS / "ui_asset_graph.png",
    "session": DOCS / "ui_daily_bars_session.png",
    "check": DOCS / "ui_check_partitions.png",
}


def _a_flat_file_session(url: str) -> str:
    """A daily_bars session built from a flat file in the demo's range runs (not the newest)."""
    data = graphql(
        url,
        '{ assetNodes(assetKeys: [{path: ["daily_bars"]}]) '
        "{ assetMaterializations(limit: 100) { partition } } }",
    )
    keys = sorted({m["partition"] for m in data["assetNodes"][0]["assetMaterializations"]})
    return keys[len(keys) // 2]


def take(url: str) -> None:
    with browser_page(width=1600, height=1000) as page:
        open_asset_graph(page, url)
        page.screenshot(path=str(SHOTS["graph"]))
        open_partition(page, url, "daily_bars", _a_flat_file_session(url))
        page.screenshot(path=str(SHOTS["session"]))
        open_check_partitions(page, url, "daily_bars", "row_count")
        page.screenshot(path=str(SHOTS["check"]))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="finance-pipeline-screenshots-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "FLATFILES_"))}
        env |= {"DAGSTER_HOME": str(root / "home"), "FINANCE_PIPELINE_LAKE": str(root / "lake")}
        subprocess.run([CLI, "demo"], env=env, cwd=root, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        ui = subprocess.Popen(
            [CLI, "ui", "--port", str(port)], env=env, cwd=root, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_serving(url, ui)
            take(url)
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            ui.wait(timeout=60)
    for path in SHOTS.values():
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

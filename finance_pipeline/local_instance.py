"""The single-machine Dagster instance and lake the demo, `make ui` and the CLI default to:
DAGSTER_HOME (default .demo/dagster_home) with the packaged instance config, and
FINANCE_PIPELINE_LAKE (default .demo/lake); and `get_instance`, the one way this package opens
the instance of DAGSTER_HOME."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

DEFAULT_HOME = Path(".demo/dagster_home")
DEFAULT_LAKE = Path(".demo/lake")
# The single-machine instance config (run queue, backfill and pool limits, run monitoring).
LOCAL_INSTANCE_YAML = Path(__file__).with_name("local_instance.yaml")
# Held while a process opens (and on first use creates and migrates) the instance's storage.
INSTANCE_LOCK = ".finance_pipeline_instance.lock"


def local_paths() -> tuple[Path, str]:
    """DAGSTER_HOME and FINANCE_PIPELINE_LAKE, or the demo's defaults, made absolute."""
    home = Path(os.environ.get("DAGSTER_HOME", "").strip() or DEFAULT_HOME).expanduser()
    lake = os.environ.get("FINANCE_PIPELINE_LAKE", "").strip() or str(DEFAULT_LAKE)
    if not lake.startswith("s3://"):
        lake = str(Path(lake).expanduser().absolute())
    return home.absolute(), lake


def use_local_instance() -> tuple[Path, str]:
    """Create the instance directory (with the packaged config unless it has one) and point
    DAGSTER_HOME and FINANCE_PIPELINE_LAKE at it and the lake; returns both."""
    home, lake = local_paths()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML.read_text())
    os.environ.update({"DAGSTER_HOME": str(home), "FINANCE_PIPELINE_LAKE": lake})
    return home, lake


def get_instance() -> dg.DagsterInstance:
    """`DagsterInstance.get()` under an exclusive lock file in DAGSTER_HOME. On a brand-new
    home each SQLite storage creates its tables and stamps its alembic version; processes
    doing that at once leave two `alembic_version` rows ("more than one head") and the
    instance unusable for good. The lock makes them take turns; opening an existing
    instance is quick, so it costs little."""
    import dagster as dg
    from filelock import FileLock

    home = Path(os.environ["DAGSTER_HOME"])
    with FileLock(str(home / INSTANCE_LOCK)):
        return dg.DagsterInstance.get()

"""Sensors: new or restated flat files on S3, and the curated layer's automation conditions.

The flat-file sensor lists only the month prefixes of its window (the newest N sessions whose
partitions exist) and remembers every file's ETag in its cursor. S3's LastModified has one-second
resolution, so a time-based cursor would miss a file published in the same second as the last one
seen; comparing ETags per key cannot. A changed ETag is a restatement and launches a new run (the
ETag is part of the run key). A file already loaded with the same ETag (by a backfill, say) is
recorded as seen without a run, using the ETags the flat-file assets keep in their metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from finance_pipeline import router
from finance_pipeline.automation.config import positive_int
from finance_pipeline.automation.jobs import FLAT_FILE_PRIORITY, flat_files_job
from finance_pipeline.calendar import recent_sessions
from finance_pipeline.clients.polygon_flat_files.client import ObjectInfo
from finance_pipeline.registry import FLAT_FILE_ASSET
from finance_pipeline.resources.flat_files_resource import FlatFilesResource

Clock = Callable[[], dt.datetime]
CURSOR_VERSION = 1
# The flat-file assets record {session: ETag} of the files they loaded under this key.
ETAG_METADATA_KEY = "source_etags"
CURATED_GROUP = "curated"
NO_FLAT_FILES = (
    "the configured plan has no flat files (needs POLYGON_PLAN=paid and "
    "FLATFILES_ACCESS_KEY_ID); daily bars come from the daily schedule instead"
)


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class FlatFileCursor:
    """The ETag seen per dataset and session (ISO date), for the sensor's window only."""

    etags: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None, log: logging.Logger | None = None) -> FlatFileCursor:
        """An unreadable cursor starts over: run keys and recorded ETags prevent repeats."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            if data.get("version") != CURSOR_VERSION:
                raise ValueError(f"cursor version {data.get('version')!r}")
            etags = {
                str(dataset): {str(day): str(etag) for day, etag in seen.items()}
                for dataset, seen in data["etags"].items()
            }
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            if log is not None:
                log.warning(f"flat-file sensor: ignoring an unreadable cursor ({exc})")
            return cls()
        return cls(etags)

    def to_json(self) -> str:
        return json.dumps({"version": CURSOR_VERSION, "etags": self.etags}, sort_keys=True)


def recorded_etags(
    instance: dg.DagsterInstance, asset: str, sessions: Iterable[dt.date]
) -> dict[dt.date, str]:
    """The source ETag on the latest materialization of each session's partition, if any."""
    found: dict[dt.date, str] = {}
    for session in sessions:
        key = session.isoformat()
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
        )
        if not result.records:
            continue
        materialization = result.records[0].asset_materialization
        value = materialization.metadata.get(ETAG_METADATA_KEY) if materialization else None
        etags = getattr(value, "value", None)
        if isinstance(etags, dict) and etags.get(key):
            found[session] = str(etags[key])
    return found


def flat_file_run_key(asset: str, session: dt.date, etag: str) -> str:
    return f"{asset}:{session.isoformat()}:{etag}"


def build_flat_file_sensor(
    *,
    name: str = "flat_file_sensor",
    clock: Clock | None = None,
    window_sessions: int | None = None,
    minimum_interval_seconds: int | None = None,
) -> dg.SensorDefinition:
    """The flat-file sensor. `clock` gives "now" (tests and the sandbox replay a past day);
    window and interval default to FINANCE_PIPELINE_FLAT_FILE_WINDOW_SESSIONS and
    FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL."""
    now_fn = clock or wall_clock
    window_size = window_sessions or positive_int("FINANCE_PIPELINE_FLAT_FILE_WINDOW_SESSIONS")
    interval = minimum_interval_seconds or positive_int(
        "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL"
    )

    @dg.sensor(
        name=name,
        job=flat_files_job,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Watches the day and minute flat files of the newest {window_size} sessions on S3 "
            "(only their month prefixes are listed) and loads a session when its file appears "
            "or is restated (new ETag)."
        ),
    )
    def _flat_file_sensor(
        context: dg.SensorEvaluationContext, flat_files: FlatFilesResource
    ) -> dg.SensorResult:
        if not router.Credentials.from_env().flat_files:
            return dg.SensorResult(skip_reason=NO_FLAT_FILES)
        window = recent_sessions(now_fn(), window_size)
        if not window:
            return dg.SensorResult(skip_reason="no session has ended yet")
        previous = FlatFileCursor.parse(context.cursor, context.log)
        client = flat_files.get_client()
        cursor = FlatFileCursor()
        requests: list[dg.RunRequest] = []
        watched = 0
        for dataset, asset in FLAT_FILE_ASSET.items():
            listed = client.list_sessions(dataset, window[0], window[-1])
            watched += len(listed)
            seen = previous.etags.get(dataset, {})
            requests += _new_file_requests(context.instance, asset, listed, seen, name)
            cursor.etags[dataset] = {d.isoformat(): info.etag for d, info in listed.items()}
        if not requests:
            return dg.SensorResult(
                skip_reason=(
                    f"no new or restated flat files for {window[0]}..{window[-1]} "
                    f"({watched} file(s) watched)"
                ),
                cursor=cursor.to_json(),
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor.to_json())

    return _flat_file_sensor


def _new_file_requests(
    instance: dg.DagsterInstance,
    asset: str,
    listed: Mapping[dt.date, ObjectInfo],
    seen: Mapping[str, str],
    trigger: str,
) -> list[dg.RunRequest]:
    """A run per listed file whose ETag the cursor has not seen and the lake does not hold."""
    changed = {d: info for d, info in listed.items() if seen.get(d.isoformat()) != info.etag}
    loaded = recorded_etags(instance, asset, changed)
    requests = []
    for session, info in changed.items():
        if loaded.get(session) == info.etag:
            continue  # this very file is already in the lake
        requests.append(
            dg.RunRequest(
                run_key=flat_file_run_key(asset, session, info.etag),
                partition_key=session.isoformat(),
                asset_selection=[dg.AssetKey(asset)],
                tags={
                    "dagster/priority": FLAT_FILE_PRIORITY,
                    "finance_pipeline/trigger": trigger,
                    "finance_pipeline/session": session.isoformat(),
                    "finance_pipeline/planned_sources": f"{asset}=flat_file",
                    "finance_pipeline/planned_api_calls": "0",
                    "finance_pipeline/flat_file_key": info.key,
                    "finance_pipeline/etag": info.etag,
                    "finance_pipeline/restated": str(session.isoformat() in seen).lower(),
                },
            )
        )
    return requests


def build_curated_automation_sensor(
    minimum_interval_seconds: int | None = None,
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the curated assets' automation conditions (eager: follow their sources).

    Dagster's implicit default automation sensor is created STOPPED in open source; this one
    is declared RUNNING so a fresh deployment keeps the curated layer up to date by itself.
    """
    return dg.AutomationConditionSensorDefinition(
        "curated_automation_sensor",
        target=dg.AssetSelection.groups(CURATED_GROUP),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds
        or positive_int("FINANCE_PIPELINE_AUTOMATION_INTERVAL"),
        description="Materializes curated assets as their source partitions land or change.",
    )

"""The run side of a distributed backfill: the sessions of one asset cut into runs as a backfill
cuts them (the asset's backfill policy, `runs.specs.run_specs`), each run handing its step to
the Celery workers (FINANCE_PIPELINE_EXECUTOR=celery) and waiting for it: what the daemon's run
workers do in a deployment. Each run is a process forked from this one after the definitions
loaded (Dagster's run setup is not thread-safe: it reconfigures logging), so a run starts in
milliseconds.

`python -m finance_pipeline_tests.distributed.coordinator RUNS SLOTS PER_RUN JOB ASSET SESSION...`
with the pipeline's environment; prints one JSON line: {"runs": {first session: [run_id,
success, [its sessions]]}}. At most RUNS runs are in flight at once, as the run queue allows a
backfill (deploy/dagster.yaml: 4). PER_RUN is the sessions per run, 0 for the asset's backfill
policy. SLOTS is the `polygon_api` pool's size, set first as an operator would (`dagster
instance concurrency set polygon_api N`): runs creating the pool's row at once collide in
Dagster 1.13 (a unique violation fails one of them).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import multiprocessing
import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from finance_pipeline.assets.common import POLYGON_POOL
from finance_pipeline.runs.execute import RANGE_END_TAG, RANGE_START_TAG, sessions_per_run
from finance_pipeline.runs.specs import run_specs

DEFINITIONS = "finance_pipeline.definitions"


def _tags(sessions: list[str]) -> dict[str, str]:
    if len(sessions) == 1:
        return {"dagster/partition": sessions[0]}
    return {RANGE_START_TAG: sessions[0], RANGE_END_TAG: sessions[-1]}


def _run(job: str, asset: str, sessions: list[str]) -> tuple[str, bool, list[str]]:
    repository = ReconstructableRepository.for_module(DEFINITIONS, "defs")
    # The asset alone: its checks would add steps and API calls of their own.
    recon = repository.get_reconstructable_job(job).get_subset(
        asset_selection={dg.AssetKey(asset)}, asset_check_selection=set()
    )
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(recon, instance, tags=_tags(sessions))
        return result.run_id, result.success, sessions


def main(argv: list[str]) -> int:
    runs, slots, per_run, job, asset, *sessions = argv
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(POLYGON_POOL, int(slots))
    ReconstructableRepository.for_module(DEFINITIONS, "defs").get_definition()  # before forking
    size = int(per_run) or sessions_per_run(importlib.import_module(DEFINITIONS).defs)[asset]
    specs = run_specs({asset: [dt.date.fromisoformat(s) for s in sessions]}, {asset: size})
    cut = [[day.isoformat() for day in spec.sessions] for spec in specs]
    with multiprocessing.get_context("fork").Pool(int(runs)) as pool:
        outcomes = pool.starmap(_run, [(job, asset, block) for block in cut])
    print(json.dumps({"runs": {o[2][0]: list(o) for o in outcomes}}))
    return 0 if all(success for _, success, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

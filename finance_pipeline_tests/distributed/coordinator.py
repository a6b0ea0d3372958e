"""The run side of a distributed backfill: one run per session of one asset, all launched at
once, each handing its step to the Celery workers (FINANCE_PIPELINE_EXECUTOR=celery) and
waiting for it: what the daemon's run workers do in a deployment. Each run is a process forked
from this one after the definitions loaded (Dagster's run setup is not thread-safe: it
reconfigures logging), so a run starts in milliseconds.

`python -m finance_pipeline_tests.distributed.coordinator RUNS SLOTS JOB ASSET SESSION...` with
the pipeline's environment; prints one JSON line: {"runs": {session: [run_id, success]}}. At most
RUNS runs are in flight at once, as the run queue allows a backfill (deploy/dagster.yaml: 4).
SLOTS is
the `polygon_api` pool's size, set first as an operator would (`dagster instance concurrency
set polygon_api N`): runs creating the pool's row at once collide in Dagster 1.13 (a unique
violation fails one of them).
"""

from __future__ import annotations

import json
import multiprocessing
import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from finance_pipeline.assets.common import POLYGON_POOL

DEFINITIONS = "finance_pipeline.definitions"


def _run(job: str, asset: str, session: str) -> tuple[str, bool]:
    repository = ReconstructableRepository.for_module(DEFINITIONS, "defs")
    # The asset alone: its checks would add steps and API calls of their own.
    recon = repository.get_reconstructable_job(job).get_subset(
        asset_selection={dg.AssetKey(asset)}, asset_check_selection=set()
    )
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(recon, instance, tags={"dagster/partition": session})
        return result.run_id, result.success


def main(argv: list[str]) -> int:
    runs, slots, job, asset, *sessions = argv
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(POLYGON_POOL, int(slots))
    ReconstructableRepository.for_module(DEFINITIONS, "defs").get_definition()
    with multiprocessing.get_context("fork").Pool(int(runs)) as pool:
        outcomes = pool.starmap(_run, [(job, asset, session) for session in sessions])
    print(json.dumps({"runs": dict(zip(sessions, outcomes, strict=True))}))
    return 0 if all(success for _, success in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

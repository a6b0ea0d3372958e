"""Write-audit-publish: the pipeline's way of storing a new partition.

Every session's file is built and audited (`audit`) before any is stored. When one is
refused, the refused files go to quarantine with their reasons, nothing is stored and
`PartitionRefused` names each of them; the stored files stay byte-identical. Otherwise each
file and its manifest entry are stored atomically, and a stale quarantine candidate of the
same partition is dropped (the good file supersedes it).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from finance_pipeline.calendar import parse_session
from finance_pipeline.lake import audit, quarantine
from finance_pipeline.lake import conform as fit
from finance_pipeline.lake.errors import LakeError, PartitionMissing, WriteResult
from finance_pipeline.lake.file_format import digested, encode_file
from finance_pipeline.lake.manifest import ManifestEntry, entry_for, source_of
from finance_pipeline.lake.quarantine import Quarantined
from finance_pipeline.lake.store import Lake
from finance_pipeline.lake.verify import parse


class PartitionRefused(LakeError):
    """New partition files failed their audit and were quarantined; nothing was stored."""

    def __init__(self, message: str, refused: list[Quarantined]) -> None:
        super().__init__(message)
        self.refused = refused


def _stored(lake: Lake, dataset: str, session: dt.date) -> audit.Stored | None:
    """The stored partition to compare with; None when absent or itself bad (a corrupt file
    is no yardstick: its repair is measured against recent sessions only)."""
    try:
        table = lake.read(dataset, session)
    except (PartitionMissing, LakeError):
        return None
    return audit.Stored(table.num_rows, audit.tickers_of(table))


def _candidate(
    lake: Lake, dataset: str, session: dt.date, table: pa.Table
) -> tuple[bytes, ManifestEntry, str | None, audit.Stored | None]:
    # Encoding the file (single-threaded in Arrow, the GIL released; its digests on a thread
    # of their own) runs beside the audit of the rows, which needs only the table: on a minute
    # session they overlap on 2 cores.
    with ThreadPoolExecutor(1) as pool:
        encoding = pool.submit(encode_file, dataset, session, table)
        problems = audit.row_problems(dataset, session, table)
        encoded = encoding.result()
    body = encoded.body
    entry = entry_for(dataset, session, table, encoded)
    if lake.stored_bytes(dataset, session) == body:
        return body, entry, None, None  # the same bytes again: nothing to judge
    stored = _stored(lake, dataset, session)
    history = audit.recent_rows(dataset, session, lake.manifest, source_of(dataset, table))
    return body, entry, audit.judge(problems, table, stored, history, dataset), stored


def publish_sessions(
    lake: Lake, dataset: str, data: pa.Table, sessions: list[dt.date]
) -> list[WriteResult]:
    """Store one file per session of `sessions` from `data` (split by its session column),
    every one audited first; PartitionRefused when any is refused (then none is stored)."""
    targets = sorted({parse_session(day) for day in sessions})
    table = lake.conform(dataset, data)
    if fit.SESSION_COLUMN in table.column_names:
        fit.check_sessions(dataset, table, targets)
        parts = fit.split_by_session(table, targets) if len(targets) > 1 else [table]
    elif len(targets) == 1:
        parts = [table]
    else:
        return lake.write_sessions(dataset, table, targets)  # raises: cannot be split
    # Sessions of a range are encoded two at a time (Arrow releases the GIL): 2 cores busy.
    pairs = list(zip(targets, parts, strict=True))
    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda pair: _candidate(lake, dataset, *pair), pairs))
    candidates = [(*pair, *candidate) for pair, candidate in zip(pairs, built, strict=True)]
    refused = [
        quarantine.put(
            lake.storage,
            dataset,
            day,
            body,
            reason=reason,
            rows=part.num_rows,
            stored_rows=stored.rows if stored else None,
        )
        for day, part, body, _, reason, stored in candidates
        if reason is not None
    ]
    if refused:
        shown = "; ".join(q.text() for q in refused[:3])
        shown += f" and {len(refused) - 3} more" if len(refused) > 3 else ""
        raise PartitionRefused(
            f"{dataset}: {len(refused)} of {len(targets)} new partition(s) refused, nothing "
            f"stored: {shown}. Accept one with `finance-pipeline accept {dataset} SESSION`",
            refused,
        )
    results = []
    for day, _, body, entry, _, _ in candidates:
        results.append(lake.put_file(dataset, day, body, entry))
        quarantine.remove(lake.storage, dataset, day)
    return results


def accept(lake: Lake, dataset: str, session: dt.date) -> WriteResult:
    """Publish the quarantined candidate of (dataset, session) in place of the stored file."""
    session = parse_session(session)
    lake.schema(dataset)  # SchemaError for an unknown dataset
    _, body = quarantine.candidate(lake.storage, dataset, session)
    table = parse(body)
    result = lake.put_file(
        dataset, session, body, entry_for(dataset, session, table, digested(body))
    )
    quarantine.remove(lake.storage, dataset, session)
    return result

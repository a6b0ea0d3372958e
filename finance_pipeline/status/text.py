"""The status as the text `finance-pipeline status` and the demo print."""

from __future__ import annotations

from finance_pipeline.status.model import DatasetCoverage, Status

_GAPS_SHOWN = 5


def _span(c: DatasetCoverage) -> str:
    if not c.sessions:
        return "-"
    return f"{c.first} .. {c.last}"


def _gaps(c: DatasetCoverage) -> str:
    if not c.missing:
        return "none"
    shown = ", ".join(str(d) for d in c.missing[:_GAPS_SHOWN])
    more = f" +{len(c.missing) - _GAPS_SHOWN} more" if len(c.missing) > _GAPS_SHOWN else ""
    return f"{len(c.missing)} ({shown}{more})"


def format_status(status: Status) -> str:
    """Coverage, costs and checks as aligned text tables and totals."""
    lines = [f"lake: {status.lake_root}", ""]
    lines.append(f"{'dataset':<24}{'sessions':>9}{'rows':>13}  {'range':<26}{'missing'}")
    for c in status.coverage:
        lines.append(f"{c.dataset:<24}{c.sessions:>9,}{c.rows:>13,}  {_span(c):<26}{_gaps(c)}")
    for c in status.coverage:
        if c.sources:
            used = ", ".join(f"{raw} {n}" for raw, n in c.sources.items())
            lines.append(f"  {c.dataset} sessions per source: {used}")
    for c in status.coverage:
        for bad in c.bad_files:
            lines.append(f"  BAD FILE: {bad}")
    for q in status.quarantined:
        lines.append(
            f"  QUARANTINED: {q['dataset']} session {q['session']}: {q['reason']} "
            f"({q['rows']:,} rows new; kept at {q['uri']}; "
            f"accept with: finance-pipeline accept {q['dataset']} {q['session']})"
        )
    lines.append("")
    lines.append(
        f"{'asset':<24}{'partitions':>11}{'API calls':>11}{'S3 GETs':>9}"
        f"{'calls saved':>13}{'old path':>11}"
    )
    for cost in status.costs:
        lines.append(
            f"{cost.asset:<24}{cost.partitions:>11,}{cost.api_calls:>11,}{cost.s3_gets:>9,}"
            f"{cost.calls_saved:>13,}{cost.old_path_calls:>11,}"
        )
    lines += [
        "",
        f"API calls used: {status.api_calls:,} by assets + {status.check_api_calls:,} by checks"
        f" = {status.api_calls + status.check_api_calls:,}",
        f"old per-ticker path for the curated bars held: {status.curated_old_path_calls:,} calls",
        f"S3 GETs: {status.s3_gets:,}",
        f"checks (latest per partition): {status.checks_passed:,} passed, "
        f"{status.checks_failed:,} failed, {status.checks_not_run:,} without a verdict",
    ]
    for tally in status.checks:
        if tally.failed or tally.not_run:
            warn = f" ({tally.warned} at WARN)" if tally.warned else ""
            lines.append(
                f"  {tally.check}: {tally.failed} failed{warn}, {tally.not_run} without a verdict"
            )
    return "\n".join(lines)

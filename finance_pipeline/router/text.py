"""The router's plan as text, for the CLI: rows per source, totals, and the old per-ticker path."""

from __future__ import annotations

from finance_pipeline.router.model import Plan


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes} min"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def format_plan(p: Plan) -> str:
    """A text table for the CLI: rows per source, totals, and the old per-ticker path."""
    req = p.request
    sessions = req.sessions
    who = "whole market" if req.tickers is None else f"{len(req.tickers)} ticker(s)"
    lines = [
        f"{req.dataset}: {len(sessions)} session(s) {sessions[0]} .. {sessions[-1]}, {who}; "
        f"{p.credentials.describe()}",
        f"{'source':<14}{'sessions':>10}{'API calls':>12}{'S3 GETs':>10}{'est. size':>12}",
    ]
    for source, n in p.sessions_by_source.items():
        if not n:
            continue
        rows = [s for s in p.sessions if s.source == source]
        lines.append(
            f"{source:<14}{n:>10,}{sum(s.api_calls for s in rows):>12,}"
            f"{sum(s.s3_gets for s in rows):>10,}{_size(sum(s.est_bytes for s in rows)):>12}"
        )
    lines.append(
        f"{'total':<14}{len(p.sessions):>10,}{p.api_calls:>12,}{p.s3_gets:>10,}"
        f"{_size(p.est_bytes):>12}"
    )
    if p.skipped:
        lines.append(f"skipped, already stored: {len(p.skipped)} session(s) (use --force)")
    for reason in dict.fromkeys(s.reason for s in p.sessions if s.source == "unavailable"):
        lines.append(f"unavailable: {reason}")
    lines.append(f"least wall time at the rate limit: {_duration(p.min_wall_seconds)}")
    lines.append(
        f"old per-ticker path: {p.old_path_calls:,} calls "
        f"({_duration(p.old_path_min_wall_seconds)}); saved {p.calls_saved:,} calls"
    )
    return "\n".join(lines)

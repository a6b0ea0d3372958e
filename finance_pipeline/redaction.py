"""Keep secrets out of anything a person or a log can see."""

from __future__ import annotations

from collections.abc import Iterable

from finance_pipeline.settings import secret_values

MASK = "***"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret, and every secret environment variable, masked."""
    for secret in sorted({s for s in (*secrets, *secret_values()) if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text

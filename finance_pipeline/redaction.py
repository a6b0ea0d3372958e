"""Keep secrets out of anything a person or a log can see."""

from __future__ import annotations

import re
from collections.abc import Iterable

from finance_pipeline.settings import secret_values

MASK = "***"
# A URL's token hides in its path or query; errors often quote only that part (urllib's
# "URL can't contain control characters. '/services/T0KEN...'"). Shorter pieces are words.
_TOKEN_PIECE = 8


def _pieces(secret: str) -> set[str]:
    """The secret and, when it is a URL, what an error may quote of it: the URL without its
    scheme, its path and query, and each path segment or query value long enough to be a
    token (the host is kept: it is what a person needs to see)."""
    pieces = {secret}
    if "/" not in secret:
        return pieces
    rest = secret.split("://", 1)[-1]
    pieces.add(rest)
    host, _, tail = rest.partition("/")
    if tail:
        pieces.add("/" + tail)
        pieces.add(tail)
    pieces |= {p for p in re.split(r"[/?&=#;\s]+", tail) if len(p) >= _TOKEN_PIECE}
    if "@" in host:  # user:password@host
        pieces.add(host.rsplit("@", 1)[0])
    return {p for p in pieces if p.strip()}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret, and every secret environment variable, masked (for a
    secret URL, also the parts of it an error may quote)."""
    values = {p for s in (*secrets, *secret_values()) if s for p in _pieces(s)}
    for secret in sorted(values, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text

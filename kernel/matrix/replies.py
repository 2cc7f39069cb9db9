"""Replies as clients send them: the body starts with the quoted message (``> …`` lines and
an empty line, the spec's reply fallback), which the answer itself follows."""

from __future__ import annotations


def without_fallback(body: str) -> str:
    """The answer of a reply's body (a body that quotes nothing, as it is)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    first = next((i for i, line in enumerate(lines) if not line.startswith(">")), len(lines))
    return "\n".join(lines[first:]).strip() or body

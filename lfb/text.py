"""Showing what someone typed inside a message: quoted, and cut short when it is very long."""
from __future__ import annotations

SHOWN_CHARS = 60  # a value longer than this is cut in messages (its length is given instead)


def quoted(value: object, limit: int = SHOWN_CHARS) -> str:
    """Return a value as repr() quotes it, cut to `limit` characters with its length when it is longer."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def shortened(text: object, limit: int = 120) -> str:
    """Return text as it is, or cut to `limit` characters with its length when it is longer (file names, paths)."""
    value = str(text)
    return value if len(value) <= limit else f"{value[:limit]}… ({len(value):,} characters)"

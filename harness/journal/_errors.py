"""The journal's one error."""

from __future__ import annotations

__all__ = [
    "JournalError",
]


class JournalError(ValueError):
    """A journal that cannot be written or read; the message is one line for people."""

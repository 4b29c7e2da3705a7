"""The one error of a review, and the first line of a message (what a person is shown)."""

from __future__ import annotations

__all__ = ["ReviewError", "first_line"]


class ReviewError(RuntimeError):
    """A review that cannot be made; the message is one line for people."""


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped ("" when there is none)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""

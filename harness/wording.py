"""How figures are written for people: percentages, money, months.

Shared by the verdict and the commands that print figures; imports nothing
else of harness (layer 0 in docs/architecture.md).
"""

from __future__ import annotations

import math

__all__ = ["money", "months", "pct"]


def pct(x: float) -> str:
    """0.001 → "0.1 %", 0.98976 → "98.98 %", 0.34 → "34 %"."""
    if math.isinf(x):
        return "∞ %" if x > 0 else "−∞ %"
    text = f"{x * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text} %"


def money(x: float) -> str:
    """Whole dollars with a sign: +$1,200, −$300, $0; "unbounded" for infinity."""
    if math.isinf(x):
        return "unbounded"
    sign = "+" if x > 0 else "−" if x < 0 else ""
    return f"{sign}${abs(x):,.0f}"


def months(x: float) -> str:
    """One decimal: "7.5 months"; "never" for infinity."""
    return "never" if math.isinf(x) else f"{x:.1f} months"

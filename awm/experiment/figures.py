"""How a comparison's figures are written (rates, differences, p-values): the report's, the `compare` command's and
the app's. Standard library only, so that the app can use them without loading numpy."""

from __future__ import annotations

import math


def percent(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def points(value: float) -> str:
    """A difference of rates in percentage points, signed."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:+.1f} pp"


def p_value(value: float) -> str:
    """A p-value as a table cell: 0.021, or <0.001."""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def p_phrase(value: float) -> str:
    """A p-value in a sentence: p = 0.021, or p < 0.001."""
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"

"""How awm-tui writes durations, money and counts: one way each, everywhere (the app, the headless printer, the
exit lines). Plain functions, no imports beyond the standard library (the first frame and `--help` stay light).

    duration(7.1)     -> "0m07s"        duration(3725) -> "1h02m05s"      (a clock: minutes and seconds always)
    money(0.01234)    -> "$0.0123"      money(12.5)    -> "$12.50"
    count(1, "step")  -> "1 step"       count(2, "step") -> "2 steps"    count(1200, "issue") -> "1,200 issues"
"""

from __future__ import annotations

import math


def duration(seconds: float | None) -> str:
    """A time span as a clock, to the second: 0m07s, 12m30s, 1h02m05s; "–" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def money(x: float) -> str:
    """Dollars: four decimals under a dollar (a call costs fractions of a cent), two from a dollar on."""
    return f"${x:.4f}" if x < 1 else f"${x:.2f}"


PLURALS = {"entry": "entries", "this": "these", "is": "are", "was": "were", "has": "have"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """`word` for one, its plural otherwise (`many`, else a known irregular, else word + "s")."""
    if n == 1:
        return word
    return many or PLURALS.get(word) or word + "s"


def count(n: int, word: str, many: str | None = None) -> str:
    """A number and its noun, agreeing: "1 step", "3 steps", "1,200 issues"."""
    return f"{n:,} {plural(n, word, many)}"

"""Durations such as "1h30m" or "2w 3d": parsing and formatting.

Units: w (weeks), d (days), h (hours), m (minutes), s (seconds)."""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([dhms])")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as "90s", "15m", "1h30m" or "2d 4h"."""
    cleaned = text.strip().lower()
    match = _PART.match(cleaned)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The compact form of a number of seconds, largest unit first: 5400 -> "1h30m", 0 -> "0s"."""
    if seconds < 0:
        raise ValueError("duration cannot be negative")
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)

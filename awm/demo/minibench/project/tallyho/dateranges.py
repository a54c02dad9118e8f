"""Inclusive date ranges: parsing, iterating, counting weekdays, overlap, merging.

A range (start, end) includes both days; a one-day range has start == end."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterator


def parse_range(text: str) -> tuple[date, date]:
    """Parse "2024-01-01..2024-01-31" into (start, end)."""
    start_text, separator, end_text = text.partition("..")
    if not separator:
        raise ValueError(f"expected START..END, got {text!r}")
    start = date.fromisoformat(start_text.strip())
    end = date.fromisoformat(end_text.strip())
    if end <= start:
        raise ValueError(f"range ends before it starts: {text!r}")
    return start, end


def iter_days(start: date, end: date) -> Iterator[date]:
    """Every day from `start` to `end`, both included."""
    if end < start:
        raise ValueError("end is before start")
    for offset in range((end - start).days):
        yield start + timedelta(days=offset)


def count_weekdays(start: date, end: date) -> int:
    """Monday-to-Friday days from `start` to `end`, both included."""
    return sum(1 for day in iter_days(start, end) if day.weekday() < 5)


def overlaps(first: tuple[date, date], second: tuple[date, date]) -> bool:
    """Whether two inclusive ranges share at least one day."""
    return first[0] <= second[1] and second[0] <= first[1]


def merge_ranges(ranges: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Merge overlapping or adjacent ranges into as few ranges as possible, sorted by start."""
    merged: list[tuple[date, date]] = []
    for start, end in sorted(ranges, key=lambda r: r[1]):
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

"""Number formatting: byte sizes, thousands separators, percentages, ordinals."""

from __future__ import annotations

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]


def human_size(num_bytes: int) -> str:
    """Bytes in binary units: 1536 -> "1.5 KiB"; plain bytes are shown without decimals."""
    if num_bytes < 0:
        raise ValueError("size cannot be negative")
    size = float(num_bytes)
    for unit in _UNITS:
        if size <= 1024 or unit == _UNITS[-1]:
            break
        size /= 1024
    if unit == "B":
        return f"{int(size)} B"
    return f"{size:.1f} {unit}"


def thousands(number: int, separator: str = ",") -> str:
    """1234567 -> "1,234,567"."""
    return f"{number:,}".replace(",", separator)


def percent(part: float, whole: float, digits: int = 1) -> str:
    """percent(1, 3) -> "33.3%"; a zero whole gives "0.0%"."""
    if whole == 0:
        return f"{0:.{digits}f}%"
    return f"{100 * part / whole:.{digits}f}%"


_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}
_TEENS = (11, 12)  # the exceptions to _SUFFIXES: 11th, 12th


def ordinal(number: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    if number % 100 in _TEENS:
        return f"{number}th"
    return f"{number}{_SUFFIXES.get(number % 10, 'th')}"

"""Roman numerals from 1 to 3999."""

from __future__ import annotations

_NUMERALS = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
    (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (1, "I"),
]
_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(number: int) -> str:
    """Write 1..3999 as a Roman numeral: 1987 -> "MCMLXXXVII"."""
    if not 0 < number < 4000:
        raise ValueError(f"out of range (1..3999): {number}")
    parts = []
    for value, numeral in _NUMERALS:
        count, number = divmod(number, value)
        parts.append(numeral * count)
    return "".join(parts)


def from_roman(text: str) -> int:
    """Read a Roman numeral such as "MCMLXXXVII"; raises ValueError for anything else."""
    text = text.strip()
    if not text or any(char not in _VALUES for char in text):
        raise ValueError(f"not a Roman numeral: {text!r}")
    total = 0
    for char, following in zip(text, text[1:] + " "):
        value = _VALUES[char]
        if _VALUES.get(following, 0) > value:
            total -= value
        else:
            total += value
    return total

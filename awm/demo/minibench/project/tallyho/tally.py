"""Tallies: counting hashable items, with a running total, shares and the most common items."""

from __future__ import annotations

from typing import Hashable, Iterable


class Tally:
    """How many times each item was counted; `total` is the sum of all counts."""

    def __init__(self, items: Iterable[Hashable] = ()):
        self._counts: dict[Hashable, int] = {}
        self.total = 0
        for item in items:
            self.add(item)

    def add(self, item: Hashable, count: int = 1) -> None:
        """Count `item` `count` more times."""
        if count < 0:
            raise ValueError("count cannot be negative")
        self._counts[item] = self._counts.get(item, 0) + count
        self.total += count

    def remove(self, item: Hashable, count: int = 1) -> None:
        """Take `count` away from `item`'s count (never below zero); an item whose count reaches zero is dropped."""
        if count < 0:
            raise ValueError("count cannot be negative")
        have = self._counts.get(item, 0)
        taken = min(have, count)
        if have - taken:
            self._counts[item] = have - taken
        else:
            self._counts.pop(item, None)

    def __getitem__(self, item: Hashable) -> int:
        return self._counts.get(item, 0)

    def __len__(self) -> int:
        return len(self._counts)

    def share(self, item: Hashable) -> float:
        """`item`'s fraction of the total: 0.0 for an empty tally."""
        return self._counts.get(item, 0) / self.total if self.total else 0.0

    def most_common(self, n: int | None = None) -> list[tuple[Hashable, int]]:
        """(item, count) pairs, highest count first (ties in the order items were first counted)."""
        ranked = sorted(self._counts.items(), key=lambda pair: -pair[1])
        return ranked if n is None else ranked[:n]

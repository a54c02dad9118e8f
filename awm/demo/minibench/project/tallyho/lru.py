"""A least-recently-used cache."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable


class LRUCache:
    """A mapping that holds at most `capacity` entries; storing one more evicts the least recently used."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value stored under `key` (which now counts as recently used), or `default`."""
        if key not in self._entries:
            return default
        return self._entries[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Store `value` under `key` as the most recently used entry, evicting the oldest if full."""
        self._entries[key] = value
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def resize(self, capacity: int) -> None:
        """Change the capacity; when it shrinks, the least recently used entries are evicted."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity

    def keys(self) -> list:
        """Keys from least to most recently used."""
        return list(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

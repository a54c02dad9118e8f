import pytest

from tallyho.lru import LRUCache


def test_get_missing_returns_default():
    cache = LRUCache(2)
    assert cache.get("nope") is None
    assert cache.get("nope", 0) == 0


def test_evicts_oldest():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert "a" not in cache
    assert cache.keys() == ["b", "c"]
    assert len(cache) == 2


def test_update_keeps_size():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("a", 2)
    assert cache.get("a") == 2
    assert len(cache) == 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        LRUCache(0)


def test_resize_grow_keeps_entries():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.resize(3)
    cache.put("c", 3)
    assert cache.keys() == ["a", "b", "c"]

import pytest

from tallyho.tally import Tally


def test_counts_and_total():
    tally = Tally("abracadabra")
    assert tally["a"] == 5 and tally["z"] == 0
    assert tally.total == 11
    assert len(tally) == 5


def test_add_many():
    tally = Tally()
    tally.add("x", 3)
    assert tally["x"] == 3 and tally.total == 3


def test_add_negative():
    with pytest.raises(ValueError):
        Tally().add("x", -1)


def test_remove_drops_item_at_zero():
    tally = Tally("ab")
    tally.remove("a")
    assert tally["a"] == 0 and len(tally) == 1


def test_most_common():
    assert Tally("abracadabra").most_common(2) == [("a", 5), ("b", 2)]


def test_share_of_empty_tally():
    assert Tally().share("x") == 0.0

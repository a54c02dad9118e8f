import pytest

from tallyho.roman import from_roman, to_roman


def test_to_roman_small():
    assert [to_roman(n) for n in (1, 2, 3, 5, 10)] == ["I", "II", "III", "V", "X"]


def test_to_roman_1987():
    assert to_roman(1987) == "MCMLXXXVII"


def test_to_roman_3999():
    assert to_roman(3999) == "MMMCMXCIX"


def test_to_roman_out_of_range():
    for number in (0, -5, 4000):
        with pytest.raises(ValueError):
            to_roman(number)


def test_from_roman():
    assert from_roman("MCMLXXXVII") == 1987
    assert from_roman("XIV") == 14


def test_from_roman_invalid():
    for text in ("", "ABC", "12"):
        with pytest.raises(ValueError):
            from_roman(text)

import pytest

from tallyho.numfmt import human_size, ordinal, percent, thousands


def test_human_size_zero():
    assert human_size(0) == "0 B"


def test_human_size_bytes():
    assert human_size(512) == "512 B"


def test_human_size_fraction():
    assert human_size(1536) == "1.5 KiB"


def test_human_size_gibibytes():
    assert human_size(5 * 1024**3) == "5.0 GiB"


def test_human_size_negative():
    with pytest.raises(ValueError):
        human_size(-1)


def test_thousands():
    assert thousands(1234567) == "1,234,567"
    assert thousands(999) == "999"


def test_thousands_separator():
    assert thousands(1234567, separator=".") == "1.234.567"


def test_percent():
    assert percent(1, 3) == "33.3%"
    assert percent(1, 0) == "0.0%"


def test_ordinal():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "21st", "22nd", "23rd", "101st", "111th",
    ]

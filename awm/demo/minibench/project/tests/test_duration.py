import pytest

from tallyho.duration import format_duration, parse_duration


def test_parse_seconds():
    assert parse_duration("90s") == 90


def test_parse_minutes():
    assert parse_duration("15m") == 900


def test_parse_case_and_spaces():
    assert parse_duration(" 2H ") == 7200


def test_parse_garbage():
    for text in ("soon", "", "10"):
        with pytest.raises(ValueError):
            parse_duration(text)


def test_format():
    assert format_duration(5400) == "1h30m"
    assert format_duration(86401) == "1d1s"


def test_format_zero():
    assert format_duration(0) == "0s"


def test_format_negative():
    with pytest.raises(ValueError):
        format_duration(-1)

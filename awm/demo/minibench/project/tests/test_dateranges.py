from datetime import date

import pytest

from tallyho.dateranges import count_weekdays, iter_days, merge_ranges, overlaps, parse_range


def test_parse_range():
    assert parse_range("2024-01-01..2024-01-31") == (date(2024, 1, 1), date(2024, 1, 31))


def test_parse_range_invalid():
    for text in ("2024-01-01", "2024-02-01..2024-01-01"):
        with pytest.raises(ValueError):
            parse_range(text)


def test_iter_days_starts_at_start():
    assert next(iter_days(date(2024, 3, 1), date(2024, 3, 10))) == date(2024, 3, 1)


def test_iter_days_end_before_start():
    with pytest.raises(ValueError):
        list(iter_days(date(2024, 3, 2), date(2024, 3, 1)))


def test_count_weekdays_weekend():
    assert count_weekdays(date(2024, 1, 6), date(2024, 1, 7)) == 0


def test_overlaps():
    january = (date(2024, 1, 1), date(2024, 1, 31))
    assert overlaps(january, (date(2024, 1, 31), date(2024, 2, 5)))
    assert not overlaps(january, (date(2024, 2, 1), date(2024, 2, 5)))


def test_merge_ranges():
    ranges = [(date(2024, 1, 1), date(2024, 1, 5)), (date(2024, 1, 4), date(2024, 1, 10)), (date(2024, 2, 1), date(2024, 2, 2))]
    assert merge_ranges(ranges) == [(date(2024, 1, 1), date(2024, 1, 10)), (date(2024, 2, 1), date(2024, 2, 2))]


def test_merge_adjacent_ranges():
    assert merge_ranges([(date(2024, 1, 1), date(2024, 1, 2)), (date(2024, 1, 3), date(2024, 1, 4))]) == [
        (date(2024, 1, 1), date(2024, 1, 4))]

import pytest

from tallyho.text import count_words, normalize_whitespace, slugify, truncate


def test_slugify_simple():
    assert slugify("Hello World") == "hello-world"


def test_slugify_accents():
    assert slugify("Héllo Wörld") == "hello-world"


def test_slugify_trims():
    assert slugify("  Trim me ") == "trim-me"


def test_slugify_separator():
    assert slugify("Snake Case Please", separator="_") == "snake_case_please"


def test_truncate_short_text_unchanged():
    assert truncate("short", 10) == "short"


def test_truncate_exact_width_unchanged():
    assert truncate("exactly ten", 11) == "exactly ten"


def test_truncate_negative_width():
    with pytest.raises(ValueError):
        truncate("text", -1)


def test_normalize_whitespace():
    assert normalize_whitespace("  a \t b\n\nc ") == "a b c"


def test_count_words():
    assert count_words("one two  three\nfour") == 4

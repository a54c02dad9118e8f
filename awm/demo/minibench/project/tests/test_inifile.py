import pytest

from tallyho.inifile import get_bool, parse_ini

SAMPLE = """
# service settings
name = demo

[Server]
Host = example.org
port = 8080
debug = yes
"""


def test_sections_and_keys():
    data = parse_ini(SAMPLE)
    assert data[""] == {"name": "demo"}
    assert data["Server"] == {"host": "example.org", "port": "8080", "debug": "yes"}


def test_hash_comments_and_blank_lines():
    assert parse_ini("\n# nothing here\n\n") == {"": {}}


def test_missing_equals():
    with pytest.raises(ValueError, match="line 2"):
        parse_ini("[a]\njust words\n")


def test_get_bool():
    data = parse_ini(SAMPLE)
    assert get_bool(data, "Server", "debug") is True
    assert get_bool(data, "Server", "verbose", default=False) is False


def test_get_bool_invalid():
    with pytest.raises(ValueError):
        get_bool({"a": {"x": "maybe"}}, "a", "x")

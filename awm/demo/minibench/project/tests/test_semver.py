import pytest

from tallyho.semver import bump, compare, newest


def test_compare_patch():
    assert compare("1.2.3", "1.2.4") == -1


def test_compare_major():
    assert compare("2.0.0", "1.9.9") == 1


def test_compare_equal_with_prefix():
    assert compare("v1.0.0", "1.0.0") == 0


def test_compare_prereleases():
    assert compare("1.0.0-alpha", "1.0.0-beta") == -1


def test_newest():
    assert newest(["1.0.0", "1.2.0", "1.1.5"]) == "1.2.0"


def test_newest_empty():
    with pytest.raises(ValueError):
        newest([])


def test_bump():
    assert bump("1.2.3", "major") == "2.0.0"
    assert bump("1.2.3", "minor") == "1.3.0"
    assert bump("1.2.3-rc.1", "patch") == "1.2.4"


def test_invalid_version():
    with pytest.raises(ValueError):
        compare("1.2", "1.2.0")

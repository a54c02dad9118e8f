from tallyho.querystring import build_qs, parse_qs


def test_parse_basic():
    assert parse_qs("a=1&b=2") == {"a": ["1"], "b": ["2"]}


def test_parse_repeated_keys():
    assert parse_qs("tag=x&tag=y") == {"tag": ["x", "y"]}


def test_parse_percent_escapes_and_question_mark():
    assert parse_qs("?name=J%C3%BCrgen&city=New%20York") == {"name": ["Jürgen"], "city": ["New York"]}


def test_parse_skips_empty_pairs():
    assert parse_qs("a=1&&b=") == {"a": ["1"], "b": [""]}


def test_build():
    assert build_qs({"a": "1", "n": ["x", "y"]}) == "a=1&n=x&n=y"


def test_build_escapes():
    assert build_qs({"q": "fish chips"}) == "q=fish+chips"

"""URL query strings: parsing and building."""

from __future__ import annotations

from urllib.parse import quote_plus, unquote


def parse_qs(query: str) -> dict[str, list[str]]:
    """Parse "a=1&b=x%20y&a=2" into {"a": ["1", "2"], "b": ["x y"]}; a leading "?" is ignored."""
    result: dict[str, list[str]] = {}
    for pair in query.lstrip("?").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        result.setdefault(unquote(key), []).append(unquote(value))
    return result


def build_qs(params: dict[str, str | list[str]]) -> str:
    """The inverse of parse_qs: {"q": "fish chips", "n": ["1", "2"]} -> "q=fish+chips&n=1&n=2"."""
    pairs = []
    for key, values in params.items():
        if isinstance(values, str):
            values = [values]
        for value in values:
            pairs.append(f"{quote_plus(key)}={quote_plus(value)}")
    return "&".join(pairs)

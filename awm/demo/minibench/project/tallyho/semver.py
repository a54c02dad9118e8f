"""Semantic versions: comparison and bumping."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")
_PARTS = ("major", "minor", "patch")


def _key(version: str) -> tuple:
    match = _VERSION.match(version.strip())
    if match is None:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch, prerelease = match.groups()
    return (major, minor, patch), prerelease or ""


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version `a` is older than, equal to, or newer than `b`."""
    key_a, key_b = _key(a), _key(b)
    return (key_a > key_b) - (key_a < key_b)


def newest(versions: list[str]) -> str:
    """The newest of `versions` (the first one on ties)."""
    if not versions:
        raise ValueError("no versions given")
    best = versions[0]
    for version in versions[1:]:
        if compare(version, best) > 0:
            best = version
    return best


def bump(version: str, part: str) -> str:
    """bump("1.2.3", "minor") -> "1.3.0"; any pre-release tag is dropped."""
    if part not in _PARTS:
        raise ValueError(f"part must be one of {', '.join(_PARTS)}: {part!r}")
    numbers = [int(number) for number in _key(version)[0]]
    index = _PARTS.index(part)
    numbers[index] += 1
    numbers[index + 1:] = [0] * (2 - index)
    return ".".join(str(number) for number in numbers)

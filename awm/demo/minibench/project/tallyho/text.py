"""Text helpers: slugs, truncation, whitespace."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str, separator: str = "-") -> str:
    """Lower-case ASCII slug of `text`, with letters spelled in ASCII: "Héllo World" -> "hello-world"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^a-z0-9]", " ", ascii_text.lower()).strip()
    return cleaned.replace(" ", separator)


def truncate(text: str, width: int, ellipsis: str = "…") -> str:
    """Shorten `text` to at most `width` characters, ending with `ellipsis` when it is cut."""
    if width < 0:
        raise ValueError("width cannot be negative")
    if len(text) <= width:
        return text
    return text[:width] + ellipsis


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace into single spaces and trim both ends."""
    return " ".join(text.split())


def count_words(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())
